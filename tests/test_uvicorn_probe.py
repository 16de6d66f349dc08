"""The start-up probe of the uvicorn internals live's protocols build on (live.http.uvicorn_probe)."""

from __future__ import annotations

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from live.http import uvicorn_probe
from live.http.serving import uvicorn_options
from tests.support.servers import settings


def probe() -> None:
    uvicorn_probe.check_uvicorn.cache_clear()
    try:
        uvicorn_probe.check_uvicorn()
    finally:
        uvicorn_probe.check_uvicorn.cache_clear()


def test_the_installed_uvicorn_passes() -> None:
    probe()
    assert uvicorn_options(settings(), root_logging=False)["http"] is not None


@pytest.mark.parametrize(("cls", "name", "shown"), [
    (HttpToolsProtocol, "on_headers_complete", "HttpToolsProtocol.on_headers_complete()"),
    (HttpToolsProtocol, "_should_upgrade", "HttpToolsProtocol._should_upgrade()"),
    (WebSocketsSansIOProtocol, "handle_ping", "WebSocketsSansIOProtocol.handle_ping()"),
    (WebSocketsSansIOProtocol, "run_asgi", "WebSocketsSansIOProtocol.run_asgi()"),
])
def test_a_missing_method_fails_loudly_at_start_up(monkeypatch: pytest.MonkeyPatch, cls: type, name: str,
                                                   shown: str) -> None:
    monkeypatch.delattr(cls, name)
    with pytest.raises(RuntimeError) as caught:
        probe()
    assert shown in str(caught.value) and "uvicorn 0.55.x" in str(caught.value)
    uvicorn_probe.check_uvicorn.cache_clear()
    with pytest.raises(RuntimeError):  # `live serve` and the tests' servers build their options here
        uvicorn_options(settings(), root_logging=False)
    uvicorn_probe.check_uvicorn.cache_clear()


def test_a_changed_status_table_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn.protocols.http import httptools_impl
    monkeypatch.setattr(httptools_impl, "STATUS_LINE", {})
    with pytest.raises(RuntimeError) as caught:
        probe()
    assert "STATUS_LINE" in str(caught.value)


def test_attributes_are_found_where_the_code_assigns_them() -> None:
    class Old:
        def __init__(self) -> None:
            self.cycle = None

    class New:
        def __init__(self) -> None:
            self.request_cycle = None

    assert uvicorn_probe._missing(Old, (), ("cycle",)) == []
    assert uvicorn_probe._missing(New, (), ("cycle",)) == ["New.cycle"]
    assert uvicorn_probe._missing(RequestResponseCycle, (), uvicorn_probe.CYCLE_ATTRIBUTES) == []
