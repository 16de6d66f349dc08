"""The pure parts of HLS (playlists, their positions) and viewer counting, in memory and across
two nodes through a real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from live.bus import SharedRedis
from live.media.hls_playlist import NAME, Part, Position, Segment, read_position, render_live, render_vod, segment_lines
from live.media.hls_viewers import HlsViewers


def segment(msn: int, generation: int = 0, parts: int = 4, complete: bool = True) -> Segment:
    seg = Segment(msn, generation, 1_700_000_000.0 + 2 * msn, complete=complete)
    for i in range(parts):
        seg.parts.append(Part(msn, i, 0.5, i == 0))
        seg.duration += 0.5
    return seg


def test_the_live_playlist_lists_segments_parts_and_discontinuities() -> None:
    window = [segment(5), segment(6), segment(7, generation=1), segment(8, generation=1, parts=2, complete=False)]
    text = render_live(window, target=2, part_target=0.5, discontinuity_sequence=3, part_segments=2)
    assert "#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:3" in text
    assert "PART-HOLD-BACK=1.500" in text and "HOLD-BACK=6.0" in text
    assert text.count('#EXT-X-MAP:URI="init0.mp4"') == 1 and text.count('#EXT-X-MAP:URI="init1.mp4"') == 1
    assert text.index("#EXT-X-DISCONTINUITY\n") < text.index('URI="init1.mp4"') < text.index("s7.m4s")
    assert "p5.0.m4s" not in text and 'URI="p6.0.m4s",INDEPENDENT=YES' in text  # parts: the last 2 + open
    assert text.rstrip().endswith('#EXT-X-PART:DURATION=0.500,URI="p8.1.m4s"')
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 4
    assert read_position(text) == Position(8, 2, False)


def test_positions_answer_blocking_reloads() -> None:
    pos = Position(next_msn=8, parts=2, ended=False)
    assert pos.has(7, None) and pos.has(7, 9) and pos.has(8, 1)
    assert not pos.has(8, 2) and not pos.has(8, None) and not pos.has(9, 0)
    assert not pos.too_far(9) and pos.too_far(10)
    assert Position(8, 0, True).has(100, 0) and not Position(8, 0, True).too_far(100)


def test_without_parts_the_playlist_has_none() -> None:
    text = render_live([segment(0), segment(1, complete=False)], target=2, part_target=0,
                       discontinuity_sequence=0)
    assert "EXT-X-PART" not in text and "s0.m4s" in text and "s1.m4s" not in text
    assert read_position(text) == Position(1, 0, False)


def test_the_vod_is_made_from_the_log_and_ignores_a_torn_last_entry() -> None:
    log = segment_lines(segment(0), None) + segment_lines(segment(1), 0) + segment_lines(segment(2, generation=1), 0)
    log += "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z\n#EXTINF:2.0"  # cut off by a crash
    vod = render_vod(log)
    assert vod.endswith("s2.m4s\n#EXT-X-ENDLIST\n") and "#EXT-X-PLAYLIST-TYPE:VOD" in vod
    assert vod.count("#EXTINF:") == 3 and "#EXT-X-DISCONTINUITY\n" in vod
    assert read_position(vod).ended


@pytest.mark.parametrize("name", ["index.m3u8", "init0.mp4", "init12.mp4", "s0.m4s", "s123.m4s", "p4.0.m4s"])
def test_names_served(name: str) -> None:
    assert NAME.match(name)


@pytest.mark.parametrize("name", ["..", "../index.m3u8", "segments.log", "s1.mp4", "p1.m4s", "index.m3u8\x00",
                                  "init.mp4", ".index.m3u8.tmp", "s-1.m4s", "S1.m4s", "s1.m4s/"])
def test_names_refused(name: str) -> None:
    assert not NAME.match(name)


async def test_viewers_in_memory_slide_out_of_the_window() -> None:
    viewers = HlsViewers(window=15)
    viewers.seen("L", "a", False, now=100)
    viewers.seen("L", "b", True, now=105)
    viewers.seen("L", "a", False, now=110)
    assert (await viewers.sync(now=112)) == {"L": 2}
    assert viewers._local_counts("L", 112) == (2, 1)
    assert await viewers.sync(now=121) == {"L": 1}  # b was last seen at 105
    assert await viewers.sync(now=126) == {}


async def test_viewers_across_two_nodes_count_each_player_once(redis_url: str, redis_prefix: str) -> None:
    clients: list[Any] = [aioredis.from_url(redis_url) for _ in range(2)]
    try:
        a, b = (HlsViewers(SharedRedis(client, redis_prefix)) for client in clients)
        import time

        now = time.time()
        a.seen("L", "p1", False, now)
        b.seen("L", "p1", False, now)  # the same player's requests on both nodes
        b.seen("L", "p2", False, now)
        b.seen("L", "p3", True, now)  # in the room over the WebSocket too
        await a.sync(now)
        await b.sync(now)
        await a.sync(now)
        assert a.count("L") == 3 and b.count("L") == 3
        assert a.outside("L") == 2
        # a node with no player of its own reads the count once it is asked
        c = HlsViewers(SharedRedis(clients[0], redis_prefix))
        assert c.count("L") == 0
        await c.sync(now)
        assert c.count("L") == 3
        # 16 s later nobody was seen again: everyone is gone
        await a.sync(now + 16)
        assert a.count("L") == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_blocked_reloads_wake_when_the_playlist_grows_and_time_out_on_the_due_grid(tmp_path: Any) -> None:
    """Thousands of blocked reloads share one poller and no timer each: they still wake on growth,
    and a stalled live still answers them about when they are due (never before)."""
    import asyncio
    import time

    from live.media.hls_service import PlaylistFile

    path = tmp_path / "index.m3u8"
    path.write_text(render_live([segment(0), segment(1, complete=False)], target=2, part_target=0,
                                discontinuity_sequence=0))
    playlist = PlaylistFile(path)
    assert playlist.current() and playlist.position.next_msn == 1
    # many waiters for segment 1: the writer lists it, every one returns at once
    waiting = [asyncio.create_task(playlist.wait(1, None, 30.0)) for _ in range(500)]
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in waiting) and playlist.waiters == 500
    path.write_text(render_live([segment(0), segment(1), segment(2, complete=False)], target=2, part_target=0,
                                discontinuity_sequence=0))
    await asyncio.wait_for(asyncio.gather(*waiting), 5.0)
    assert playlist.waiters == 0 and playlist.due == {} and playlist.position.next_msn == 2
    # a stalled live: a short and a long wait; the short one is answered at its time, the long one waits on
    began = time.monotonic()
    short = asyncio.create_task(playlist.wait(5, None, 0.3))
    long = asyncio.create_task(playlist.wait(5, None, 30.0))
    await asyncio.wait_for(short, 5.0)
    took = time.monotonic() - began
    assert took >= 0.3 and not long.done() and playlist.waiters == 1
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    assert playlist.waiters == 0 and playlist.due == {}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Publication:
    room, user_id, sources = "live:L1", "host", ("video",)


class _Codec:
    clockRate = 90000


class _H264Source:
    """What the tap reads of a relay source, and the keyframe requests it makes."""

    kind, codec_key, codec, publication = "video", "H264", _Codec(), _Publication()

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.asked: list[float] = []

    def request_keyframe(self) -> None:
        self.asked.append(round(self.clock.now - 1000.0, 2))


class _Fed:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def feed(self, item: Any) -> None:
        self.items.append(item)


@pytest.mark.parametrize(("host_keyframes", "expected_asks"), [
    # the host sends keyframes only when asked: one ask per segment, a lead before it is due (at the
    # first frame past 1.9 s, 30 fps)
    ((), [1.93, 3.93, 5.93]),
    # a keyframe of its own 1.4 s into a segment (too early to end it) does not push the next ask
    # 1.9 s further: the segment still ends near 2 s (it used to be 3.3 s long)
    ((1.4,), [1.93, 3.93, 5.93]),
    # one late enough to end the segment starts the next one's count
    ((1.6,), [3.53, 5.53]),
])
def test_the_tap_asks_for_a_keyframe_when_the_segment_is_due(host_keyframes: tuple[float, ...],
                                                                  expected_asks: list[float]) -> None:
    from live.media.frames import Frame
    from live.media.hls import HlsWriters

    clock = _Clock()
    writers = HlsWriters(Path("/nonexistent"), {"live:L1": "host"}, segment_seconds=2.0, clock=clock)
    writers.active["live:L1"] = _Fed()  # type: ignore[assignment]  # the writer's thread is not what is tested
    source = _H264Source(clock)
    writers.tap(source, Frame(b"k", 0, True), True)  # the first segment begins
    answered = 0.0
    for step in range(1, 211):  # 7 s of 30 fps
        clock.now = 1000.0 + step / 30
        t = round(step / 30, 2)
        asked_for = source.asked and source.asked[-1] > answered and t >= source.asked[-1] + 0.07
        own = any(abs(t - k) < 1 / 60 for k in host_keyframes)
        keyframe = bool(asked_for or own)
        if asked_for:
            answered = source.asked[-1]  # the host answers an ask ~70 ms later
        writers.tap(source, Frame(b"k" if keyframe else b"d", step * 3000, keyframe), keyframe)
    assert source.asked == expected_asks


async def test_an_unexpected_error_serving_hls_is_the_contract_s_500_not_a_traceback() -> None:
    """HLS is answered before the exception middleware (`LiveApp`): its own catch makes the
    contract's 500 `internal` body, with a content length, and nothing of the error leaks."""
    import json

    from live.media.hls_api import answer

    class Broken:
        async def serve(self, lid: str, name: str, query: str) -> Any:
            raise RuntimeError("secret detail")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/live/L1/hls/s1.m4s", "query_string": b""}
    await answer(Broken(), "L1", "s1.m4s", scope, send)  # type: ignore[arg-type]
    start, body = sent
    assert start["status"] == 500
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    assert json.loads(body["body"])["error"]["code"] == "internal" and b"secret" not in body["body"]
