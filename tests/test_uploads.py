"""Images in posts, against a real server on SQLite and PostgreSQL: the upload's limits, the
clean re-encoding, posts carrying media, who may fetch an image, and what removes it.

Each refused upload (a 50,000 x 50,000 PNG bomb, a PHP file named .jpg, a truncated JPEG, a file
over the byte limit) must get its clear 4xx and leave nothing behind: no file in the store and
no row in the database.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from live.uploads.models import Upload
from tests.support.communities import add_member, error_of, make_community, people
from tests.support.images import GPS_IFD, PHP, exif_of, files, photo, png_bomb, size_of, upload
from tests.support.servers import RunningServer, run_server
from tests.support.waiting import eventually


def store_files(server: RunningServer) -> list[Path]:
    root = server.settings.var_path / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def rows_of(server: RunningServer, user_id: str) -> int:
    async with server.services.db.session() as session:
        count = await session.execute(select(func.count()).select_from(Upload).where(Upload.user_id == user_id))
        return int(count.scalar_one())


@pytest.fixture
async def small_server(make_settings: Any, tmp_path: Path) -> Any:
    """A server with its own var dir (an empty store to look at) and a 1 MB upload limit."""
    async with run_server(make_settings(var_dir=str(tmp_path), upload_max_bytes=1_000_000)) as running:
        yield running


async def test_an_upload_is_re_encoded_without_its_metadata(small_server: RunningServer) -> None:
    server = small_server
    async with people(server, "ana") as (ana,):
        original = photo((1200, 900), gps=True, orientation=6)
        assert GPS_IFD in exif_of(original)
        resp = await upload(ana.http, original, "IMG_0001.jpg")
        assert resp.status_code == 201, resp.text
        item = resp.json()
        # Orientation 6 (turned 90 degrees): the clean image is upright, so it is 900 x 1200.
        assert (item["width"], item["height"]) == (900, 1200)
        assert item["url"] == f"/v1/uploads/{item['id']}" and item["content_type"] == "image/jpeg"
        assert item["thumbnail_url"] == f"/v1/uploads/{item['id']}/thumbnail"
        image = await ana.http.get(item["url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.headers["x-content-type-options"] == "nosniff"
        assert exif_of(image.content) == {}  # no GPS, no maker, no orientation: nothing
        assert size_of(image.content) == (900, 1200)
        thumb = await ana.http.get(item["thumbnail_url"])
        assert max(size_of(thumb.content)) == 320 and exif_of(thumb.content) == {}
        again = await ana.http.get(item["url"], headers={"If-None-Match": image.headers["etag"]})
        assert again.status_code == 304
        for fmt, ctype in (("PNG", "image/png"), ("WEBP", "image/webp")):
            data = photo((300, 200), fmt=fmt, gps=True)
            made = await upload(ana.http, data, f"x.{fmt.lower()}", ctype)
            assert made.status_code == 201 and made.json()["content_type"] == ctype
            assert GPS_IFD not in exif_of((await ana.http.get(made.json()["url"])).content)


@pytest.mark.parametrize(
    ("name", "data", "filename", "declared", "status", "code"),
    [
        ("png bomb", None, "bomb.png", "image/png", 413, "payload_too_large"),
        ("php named .jpg", PHP, "avatar.jpg", "image/jpeg", 415, "unsupported_media_type"),
        ("truncated jpeg", "truncated", "photo.jpg", "image/jpeg", 422, "invalid_request"),
        ("over the byte limit", "large", "huge.png", "image/png", 413, "payload_too_large"),
        ("gif", "gif", "anim.gif", "image/gif", 415, "unsupported_media_type"),
        ("empty file", b"", "empty.jpg", "image/jpeg", 422, "invalid_request"),
    ],
)
async def test_refused_uploads_store_nothing(small_server: RunningServer, name: str, data: Any, filename: str,
                                             declared: str, status: int, code: str) -> None:
    server = small_server
    if data is None:
        data = png_bomb()
        assert len(data) < server.settings.upload_max_bytes  # small on the wire, huge decoded
    elif data == "truncated":
        whole = photo((800, 600))
        data = whole[: len(whole) // 2]
    elif data == "large":
        # A valid PNG, then bytes up to just past the limit (within the multipart allowance, so
        # the whole body is read and the file itself is measured).
        data = photo((64, 64), fmt="PNG")
        data += os.urandom(server.settings.upload_max_bytes + 1000 - len(data))
    elif data == "gif":
        buffer = io.BytesIO()
        Image.new("P", (10, 10)).save(buffer, "GIF")
        data = buffer.getvalue()
    async with people(server, "mallory") as (mallory,):
        resp = await upload(mallory.http, data, filename, declared)
        error = error_of(resp, status, code)
        assert "Traceback" not in error["message"]
        assert store_files(server) == []
        assert await rows_of(server, mallory.id) == 0


async def test_malformed_upload_requests(small_server: RunningServer) -> None:
    server = small_server
    async with people(server, "ana") as (ana,):
        error_of(await ana.call("POST", "/v1/uploads", content=photo(), headers={"Content-Type": "image/jpeg"}),
                 415, "unsupported_media_type")
        error_of(await ana.call("POST", "/v1/uploads", data={"note": "no file"}, files={"other": ("a", b"x")}),
                 422, "invalid_request")
        two = [("file", ("a.jpg", photo(), "image/jpeg")), ("file", ("b.jpg", photo(), "image/jpeg"))]
        error_of(await ana.call("POST", "/v1/uploads", files=two), 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/uploads", content=b"--x\r\nbroken",
                                headers={"Content-Type": "multipart/form-data; boundary=x"}), 422, "invalid_request")
        async with server.client() as anonymous:
            error_of(await anonymous.post("/v1/uploads", files=files(photo())), 401, "unauthorized")
        assert store_files(server) == []


async def test_posts_carry_images_and_only_their_author_s_unused_ones(server: RunningServer) -> None:
    async with people(server, "owner", "ana", "bo") as (owner, ana, bo):
        community = await make_community(owner)
        cid = community["id"]
        await add_member(owner, community, ana)
        await add_member(owner, community, bo)
        ids = [(await upload(ana.http, photo((64 + i, 48)))).json()["id"] for i in range(5)]
        post = await ana.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"media_ids": ids[:2]})
        assert post["text"] == "" and [m["id"] for m in post["media"]] == ids[:2]
        assert [m["width"] for m in post["media"]] == [64, 65]
        listed = await bo.ok("GET", f"/v1/communities/{cid}/posts")
        assert [m["id"] for m in listed["items"][0]["media"]] == ids[:2]
        assert (await bo.ok("GET", f"/v1/posts/{post['id']}"))["media"] == post["media"]
        shared = await bo.ok("POST", f"/v1/posts/{post['id']}/share", 201, json={})
        assert shared["media"] == [] and [m["id"] for m in shared["original"]["media"]] == ids[:2]

        def refused(resp: Any) -> None:
            error_of(resp, 422, "invalid_request")

        refused(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"media_ids": ids[:1]}))  # used
        refused(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"text": "x", "media_ids": ids}))  # 5
        refused(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"media_ids": [ids[2], ids[2]]}))
        refused(await bo.call("POST", f"/v1/communities/{cid}/posts", json={"media_ids": [ids[2]]}))  # not bo's
        refused(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"media_ids": ["nope"]}))
        refused(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"media_ids": "x"}))
        # A refused post took nothing: the images are still free for the next one.
        post2 = await ana.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "two", "media_ids": ids[2:4]})
        assert [m["id"] for m in post2["media"]] == ids[2:4]
        error_of(await ana.call("POST", f"/v1/communities/{cid}/posts", json={"text": "", "media_ids": []}),
                 422, "invalid_request")
        # The owner deletes an unused upload; one in a post goes with the post.
        await ana.ok("DELETE", f"/v1/uploads/{ids[4]}", 204)
        error_of(await ana.call("DELETE", f"/v1/uploads/{ids[4]}"), 404, "not_found")
        error_of(await ana.call("DELETE", f"/v1/uploads/{ids[0]}"), 409, "conflict")
        error_of(await bo.call("DELETE", f"/v1/uploads/{ids[2]}"), 404, "not_found")


async def test_images_are_served_with_their_post_s_read_rights(server: RunningServer) -> None:
    async with people(server, "owner", "ana", "stranger") as (owner, ana, stranger):
        public = await make_community(owner)
        private = await make_community(owner, read_policy="members")
        for community in (public, private):
            await add_member(owner, community, ana)
        await stranger.ok("GET", "/v1/me")

        async def posted(cid: str) -> dict[str, Any]:
            media = (await upload(ana.http, photo())).json()
            await ana.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"media_ids": [media["id"]]})
            return media

        open_image, closed_image = await posted(public["id"]), await posted(private["id"])
        unused = (await upload(ana.http, photo())).json()
        async with server.client() as anonymous:
            ok = await anonymous.get(open_image["url"])
            assert ok.status_code == 200 and ok.headers["cache-control"].startswith("public")
            error_of(await anonymous.get(closed_image["url"]), 404, "not_found")
            error_of(await anonymous.get(closed_image["thumbnail_url"]), 404, "not_found")
            error_of(await anonymous.get(unused["url"]), 404, "not_found")
            token = server.token(owner.id, "owner")
            by_query = await anonymous.get(closed_image["url"], params={"token": token})
            assert by_query.status_code == 200 and by_query.headers["cache-control"].startswith("private")
            error_of(await anonymous.get(closed_image["url"], params={"token": "forged"}), 401, "unauthorized")
        error_of(await stranger.call("GET", closed_image["url"]), 404, "not_found")
        error_of(await stranger.call("GET", unused["url"]), 404, "not_found")
        assert (await owner.call("GET", closed_image["url"])).status_code == 200
        assert (await ana.call("GET", unused["url"])).status_code == 200  # the owner's own
        error_of(await ana.call("GET", "/v1/uploads/nope"), 404, "not_found")
        error_of(await ana.call("GET", "/v1/uploads/" + "x" * 80), 404, "not_found")


async def until_purged(server: RunningServer, upload_id: str) -> None:
    """Wait until the purge removed the upload's row (its files go first)."""
    async def purged() -> bool:
        async with server.services.db.session() as session:
            return await session.get(Upload, upload_id) is None

    await eventually(purged, what=f"upload {upload_id} purged")


async def test_a_deleted_post_takes_its_images_and_erasure_takes_them_all(make_settings: Any, tmp_path: Path) -> None:
    async with run_server(make_settings(var_dir=str(tmp_path))) as server:
        async with people(server, "owner", "ana", "bo") as (owner, ana, bo):
            community = await make_community(owner)
            await add_member(owner, community, ana)
            await add_member(owner, community, bo)
            cid = community["id"]
            media = (await upload(ana.http, photo())).json()
            post = await ana.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"media_ids": [media["id"]]})
            assert len(store_files(server)) == 2  # the image and its thumbnail
            await ana.ok("DELETE", f"/v1/posts/{post['id']}", 204)
            error_of(await bo.call("GET", media["url"]), 404, "not_found")  # gone at once
            await until_purged(server, media["id"])
            assert store_files(server) == []

            kept = (await upload(bo.http, photo())).json()
            mine = [(await upload(ana.http, photo())).json() for _ in range(2)]
            await ana.ok("POST", f"/v1/communities/{cid}/posts", 201, json={"text": "hi", "media_ids": [mine[0]["id"]]})
            export = await ana.ok("GET", "/v1/me/export")
            assert {u["id"] for u in export["tables"]["uploads"]} == {m["id"] for m in mine}
            await ana.ok("DELETE", "/v1/me", 204)
            for item in mine:
                error_of(await bo.call("GET", item["url"]), 404, "not_found")
                await until_purged(server, item["id"])
            assert [p.parent.name for p in store_files(server)] == [kept["id"], kept["id"]]
            assert (await bo.call("GET", kept["url"])).status_code == 200


async def test_unused_uploads_are_bounded_per_user(server: RunningServer) -> None:
    from live.uploads.service import MAX_UNUSED

    async with people(server, "ana") as (ana,):
        small = photo((8, 8))
        for _ in range(MAX_UNUSED):
            assert (await upload(ana.http, small)).status_code == 201
        error_of(await upload(ana.http, small), 409, "conflict")
