"""The web client's server side: the page and its assets, `/v1/web/config`, and the dev-only
token endpoint (present with `--dev`, absent otherwise). The browser itself: test_web_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from live.web import routes as web
from tests.support.servers import RunningServer, run_server, settings, uid

STATIC = Path(web.__file__).parent / "static"


# The web routes do not touch the database beyond /v1/me: SQLite alone is enough here.
@pytest.fixture
def server(sqlite_server: RunningServer) -> RunningServer:
    return sqlite_server


@pytest.fixture
async def dev_server(sqlite_url: str) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url, dev=True)) as running:
        yield running


@pytest.mark.transport_only
async def test_page_is_served_with_a_strict_policy(server: RunningServer) -> None:
    async with server.client() as http:
        res = await http.get("/")
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/html")
        csp = res.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert res.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/static/app.js">' in res.text
        assert (await http.head("/")).status_code == 200


@pytest.mark.transport_only
async def test_every_module_the_page_imports_is_served(server: RunningServer) -> None:
    """Follow the import graph from app.js: every module resolves, as JavaScript (no build step)."""
    seen: set[str] = set()
    todo = ["/static/app.js"]
    async with server.client() as http:
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            res = await http.get(path)
            assert res.status_code == 200, path
            assert "javascript" in res.headers["content-type"], (path, res.headers["content-type"])
            base = path.rsplit("/", 1)[0]
            for spec in re.findall(r"""^import .*? from '(\.[^']+)';""", res.text, re.M):
                parts = (base + "/" + spec).split("/")
                out: list[str] = []
                for part in parts:
                    if part == "..":
                        out.pop()
                    elif part not in (".", ""):
                        out.append(part)
                todo.append("/" + "/".join(out))
        css = await http.get("/static/style.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        icon = await http.get("/static/icon.svg")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    # vendored libraries (static/vendor/) are classic scripts loaded on demand, not modules
    on_disk = {"/static/" + p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js") if p.parent.name != "vendor"}
    assert on_disk == seen, "a module is never imported, or imported but missing"
    async with server.client() as http:
        vendored = await http.get("/static/vendor/hls.min.js")
        assert vendored.status_code == 200 and "javascript" in vendored.headers["content-type"]


@pytest.mark.transport_only
async def test_static_paths_outside_the_assets_are_not_served(server: RunningServer) -> None:
    async with server.client() as http:
        for path in ("/static/nope.js", "/static/../routes.py", "/static/%2e%2e/routes.py", "/index.html"):
            res = await http.get(path)
            assert res.status_code == 404, path
            assert res.json()["error"]["code"] == "not_found"


async def test_user_text_is_never_parsed_as_markup() -> None:
    """The client builds DOM from text nodes only: no innerHTML/outerHTML/insertAdjacentHTML."""
    for path in STATIC.rglob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{path.name} uses {sink}"


# -- dev-only token endpoint ----------------------------------------------------------------------


async def test_dev_token_signs_in_any_user_in_dev_mode(dev_server: RunningServer) -> None:
    async with dev_server.client() as http:
        user = uid("dev")
        res = await http.post("/v1/dev/token", json={"user_id": user, "name": "سارا Sara"})
        assert res.status_code == 200
        token = res.json()["token"]
        assert res.json()["user"] == {"id": user, "name": "سارا Sara"}
        me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["id"] == user and me.json()["name"] == "سارا Sara"
        # Without a name the id stands in for it.
        res = await http.post("/v1/dev/token", json={"user_id": user})
        assert res.json()["user"]["name"] == user


BAD_BODIES: list[tuple[object, str]] = [
    ({}, "user_id"),
    ({"user_id": ""}, "user_id"),
    ({"user_id": "   "}, "user_id"),
    ({"user_id": "x" * 65}, "user_id"),
    ({"user_id": 7}, "user_id"),
    ({"user_id": "ok", "name": "n" * 201}, "name"),
    ([], "body"),
]


async def test_dev_token_rejects_bad_bodies(dev_server: RunningServer) -> None:
    async with dev_server.client() as http:
        for body, field in BAD_BODIES:
            res = await http.post("/v1/dev/token", json=body)
            assert res.status_code == 422, body
            error = res.json()["error"]
            assert error["code"] == "invalid_request"
            assert field in error["fields"], (body, error)
        res = await http.post("/v1/dev/token", content=b"{not json", headers={"Content-Type": "application/json"})
        assert res.status_code == 422
        assert res.json()["error"]["code"] == "invalid_request"


@pytest.mark.transport_only
async def test_dev_token_is_absent_outside_dev_mode(server: RunningServer) -> None:
    """Not 403: the route does not exist, exactly like any unknown path."""
    assert not server.settings.dev
    async with server.client() as http:
        res = await http.post("/v1/dev/token", json={"user_id": "mallory"})
        unknown = await http.post("/v1/dev/nothing-here", json={"user_id": "mallory"})
        assert res.status_code == unknown.status_code == 404
        assert res.json()["error"]["code"] == "not_found"
        assert res.json()["error"]["message"] == "no route /v1/dev/token"
        assert (await http.get("/v1/dev/token")).status_code == 404
        # Documented (the document is the same for every server), as development-only.
        spec = (await http.get("/openapi.json")).json()
        assert "--dev" in spec["paths"]["/v1/dev/token"]["post"]["summary"]


# -- /v1/web/config -----------------------------------------------------------------------------


async def test_web_config_says_dev_and_gives_ice_servers_only_to_a_signed_in_caller(sqlite_url: str) -> None:
    ice = "stun:stun.example.net:3478"
    async with run_server(settings(database_url=sqlite_url, dev=True, ice_servers=[{"urls": ice}])) as srv:
        async with srv.client() as anonymous:
            res = await anonymous.get("/v1/web/config")
            assert res.status_code == 200
            assert res.json() == {"dev": True, "ice_servers": []}
            forged = await anonymous.get("/v1/web/config", headers={"Authorization": "Bearer not.a.token"})
            assert forged.json() == {"dev": True, "ice_servers": []}
        async with srv.client(uid("cfg")) as signed_in:
            assert (await signed_in.get("/v1/web/config")).json() == {"dev": True, "ice_servers": [{"urls": ice}]}


@pytest.mark.transport_only
async def test_web_config_outside_dev_mode(server: RunningServer) -> None:
    async with server.client() as http:
        assert (await http.get("/v1/web/config")).json()["dev"] is False


def test_package_data_ships_the_client() -> None:
    """The wheel's package data pattern covers every asset (the page works from an install)."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["live"]
    assert "web/**/*" in data
    assert (STATIC.parent / "index.html").is_file()


@pytest.mark.transport_only
async def test_page_works_without_network_access_to_anything_else(server: RunningServer) -> None:
    """No CDN, no external fonts or scripts: every URL in the page and its assets is local."""
    async with server.client() as http:
        texts = [(await http.get("/")).text]
        for path in STATIC.rglob("*"):
            # (a vendored library's licence links and docs URLs are text, never fetched)
            if path.suffix in (".js", ".css", ".svg") and path.parent.name != "vendor":
                texts.append(path.read_text())
    for text in texts:
        for url in re.findall(r"https?://[^\s'\"`)]+", text):
            assert url.startswith("http://www.w3.org/2000/svg"), url

