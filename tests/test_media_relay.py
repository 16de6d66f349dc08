"""The pass-through relay with real aiortc peers over loopback (no server around it)."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest
from aiortc import RTCSessionDescription

from live.media.frames import Frame, is_keyframe
from live.media.passthrough import EncodedSink, PassThroughReceiver
from live.media.peers import Subscriber, publisher
from live.media.relay import KeyframeThrottle, MediaError, Output, Relay, RelayThread, Source
from tests.support.clock import ManualClock
from tests.support.waiting import eventually, poll

ROOM = "live:relaytest"


class Hooks:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def published(self, room: str, user: str, kinds: list[str]) -> None:
        with self.lock:
            self.events.append(("published", room, user, kinds))

    def unpublished(self, room: str, user: str, kinds: list[str], reason: str) -> None:
        with self.lock:
            self.events.append(("unpublished", room, user, kinds, reason))


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def relay(hooks: Hooks) -> AsyncIterator[RelayThread]:
    rt = RelayThread(lambda: Relay(media_timeout=2.0, on_published=hooks.published, on_unpublished=hooks.unpublished))
    rt.start()
    yield rt
    await asyncio.to_thread(rt.stop)


async def _publish(rt: RelayThread, user: str = "host", codec: str | None = None) -> Any:
    pc, offer = await publisher(codec=codec)
    answer = await rt.call(lambda r: r.publish(ROOM, user, offer))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


async def _subscribe(rt: RelayThread, user: str, publisher_id: str = "host") -> Subscriber:
    sub = Subscriber()
    offer = await sub.offer()
    answer = await rt.call(lambda r: r.subscribe(ROOM, user, publisher_id, offer))
    await sub.accept(answer)
    return sub


async def test_twenty_subscribers_decode_moving_frames_and_the_relay_never_codes(
    relay: RelayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Count every encoder call and every decoder thread, by the event loop that owns them.
    calls: collections.Counter[tuple[str, int]] = collections.Counter()
    real_get_encoder = aiortc.rtcrtpsender.get_encoder
    real_worker = aiortc.rtcrtpreceiver.decoder_worker

    def get_encoder(codec: Any) -> Any:
        encoder = real_get_encoder(codec)
        loop_id = id(asyncio.get_running_loop())
        real_encode = encoder.encode

        def encode(*args: Any, **kwargs: Any) -> Any:
            calls[("encode", loop_id)] += 1
            return real_encode(*args, **kwargs)

        encoder.encode = encode
        return encoder

    def decoder_worker(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
        calls[("decoder", id(loop))] += 1
        real_worker(loop, *args)

    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", get_encoder)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "decoder_worker", decoder_worker)

    pub = await _publish(relay)
    subs = [await _subscribe(relay, f"viewer{i}") for i in range(20)]
    try:
        await eventually(lambda: all(s.received.frames["video"] >= 15 for s in subs), 20)
        await poll(lambda: all(s.received.frames["audio"] >= 20 for s in subs), 5)
        for s in subs:
            assert s.received.sizes == {(320, 180)}
            assert len(s.received.pictures) >= 10, "frames change over time"
            assert s.received.frames["audio"] >= 20
        relay_loop, here = id(relay.loop), id(asyncio.get_running_loop())
        assert calls[("encode", relay_loop)] == 0 and calls[("decoder", relay_loop)] == 0
        # ... while the clients on this loop did encode and decode (the counting works)
        assert calls[("encode", here)] > 0 and calls[("decoder", here)] >= 40
        stats = relay.relay.stats()["rooms"][ROOM]["host"]
        assert stats["subscribers"] == 20
        assert stats["sources"]["video"]["codec"] == "video/VP8"
        # 20 joins within a second or two cost a handful of PLIs, not 20
        assert stats["sources"]["video"]["pli_sent"] <= stats["sources"]["video"]["pli_requested"]
        receivers = [s.receiver for s in relay.relay.publications[(ROOM, "host")].sources.values()]
        assert all(isinstance(r, PassThroughReceiver) and r.sink and r.sink.frames > 0 for r in receivers)
    finally:
        for s in subs:
            await s.close()
        await pub.close()


async def test_h264_is_forwarded_as_is(relay: RelayThread) -> None:
    pub = await _publish(relay, codec="H264")
    sub = await _subscribe(relay, "viewer")
    try:
        assert await sub.wait_video(10, 15)
        assert sub.received.sizes == {(320, 180)}
        source = relay.relay.publications[(ROOM, "host")].sources["video"]
        assert source.codec.mimeType == "video/H264"
        assert source.keyframes >= 1
    finally:
        await sub.close()
        await pub.close()


async def test_a_late_subscriber_gets_a_keyframe_quickly(relay: RelayThread) -> None:
    pub = await _publish(relay)
    first = await _subscribe(relay, "early")
    try:
        assert await first.wait_video(10, 15)
        await asyncio.sleep(1.5)  # the stream is well past its first keyframe now
        started = time.monotonic()
        late = await _subscribe(relay, "late")
        try:
            assert await late.wait_video(1, 10)
            # generous: PLI round trip plus connection set-up, on a shared machine
            assert late.received.first_video_at is not None
            assert late.received.first_video_at - started < 5.0
            assert await late.wait_video(10, 5)
        finally:
            await late.close()
    finally:
        await first.close()
        await pub.close()


async def test_guest_publishes_alongside_host(relay: RelayThread, hooks: Hooks) -> None:
    host = await _publish(relay, "host")
    guest = await _publish(relay, "guest")
    s1 = await _subscribe(relay, "viewer", "host")
    s2 = await _subscribe(relay, "viewer", "guest")
    try:
        assert await s1.wait_video(5, 15) and await s2.wait_video(5, 15)
        assert sorted(relay.relay.publishers(ROOM)) == ["guest", "host"]
        assert [e[2] for e in hooks.events if e[0] == "published"] == ["host", "guest"]
    finally:
        for x in (s1, s2):
            await x.close()
        await host.close()
        await guest.close()


async def test_publisher_that_closes_ends_the_media(relay: RelayThread, hooks: Hooks) -> None:
    pub = await _publish(relay)
    sub = await _subscribe(relay, "viewer")
    try:
        assert await sub.wait_video(5, 15)
        await pub.close()  # sends RTCP BYE
        await eventually(lambda: any(e[0] == "unpublished" for e in hooks.events), 5)
        await eventually(lambda: sub.received.ended, 5)
        assert relay.relay.publishers(ROOM) == []
    finally:
        await sub.close()


async def test_publisher_that_vanishes_silently_times_out(relay: RelayThread, hooks: Hooks) -> None:
    pub = await _publish(relay)
    sub = await _subscribe(relay, "viewer")
    try:
        assert await sub.wait_video(5, 15)
        # Stop sending without a word (no BYE): as if the process froze or the network went.
        for sender in pub.getSenders():
            sender._enabled = False
        await eventually(lambda: any(e[0] == "unpublished" for e in hooks.events), 8)
        event = next(e for e in hooks.events if e[0] == "unpublished")
        assert event[1:4] == (ROOM, "host", ["audio", "video"]) and event[4] == "timeout"
    finally:
        await sub.close()
        await pub.close()


async def test_bad_offers_are_refused(relay: RelayThread) -> None:
    with pytest.raises(MediaError) as info:
        await relay.call(lambda r: r.publish(ROOM, "host", "not sdp"))
    assert info.value.kind == "invalid"
    with pytest.raises(MediaError) as info:
        await relay.call(lambda r: r.subscribe(ROOM, "viewer", "nobody", "v=0\r\nm=video 9 UDP 0\r\n"))
    assert info.value.kind == "not_found"
    # an offer that only receives cannot publish
    sub = Subscriber()
    offer = await sub.offer()
    with pytest.raises(MediaError):
        await relay.call(lambda r: r.publish(ROOM, "host", offer))
    await sub.close()
    assert relay.relay.publications == {}


# -- the pure parts ------------------------------------------------------------------------------


def test_keyframe_detection() -> None:
    assert is_keyframe("VP8", b"\x10\x02\x00\x9d\x01\x2a")  # P bit 0: key frame
    assert not is_keyframe("VP8", b"\x31\x02\x00")
    assert not is_keyframe("VP8", b"")
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x01\x65\x88"
    assert is_keyframe("H264", idr)
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41\x9a\x00\x00\x01\x01")
    assert not is_keyframe("H264", b"\x00\x00\x01")
    assert is_keyframe("opus", b"\xfc")


async def test_keyframe_requests_are_throttled_to_one_a_second() -> None:
    """(More cases: tests/test_fanout_tables.py.) Time from a manual clock: no sleeps."""
    clock = ManualClock()
    sent: list[float] = []

    async def send() -> bool:
        sent.append(throttle.last)  # when it fired
        return True

    throttle = KeyframeThrottle(send, interval=0.3, clock=clock.time, call_later=clock.call_later)
    for _ in range(10):
        throttle.request()  # a burst: one now, one at the end of the window
        clock.advance(0.01)
        await asyncio.sleep(0)
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert len(sent) == 2
    assert sent[1] - sent[0] == pytest.approx(0.3)
    assert throttle.requested == 10


class _FakePublication:
    taps: ClassVar[list[Any]] = []
    key = (ROOM, "host")

    def source_ended(self, source: Any) -> None:
        pass


async def _no_upstream() -> bool:
    return True


def _packet(data: bytes, keyframe: bool, pts: int = 0) -> Frame:
    return Frame(data, pts, keyframe)


async def test_a_slow_subscribers_queue_drops_oldest_and_waits_for_a_keyframe() -> None:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
    video = Source(_FakePublication(), "video", vp8, _no_upstream)  # type: ignore[arg-type]
    audio = Source(_FakePublication(), "audio", opus, _no_upstream)  # type: ignore[arg-type]
    requests: list[str] = []
    video.request_keyframe = lambda: requests.append("pli")  # type: ignore[method-assign]
    out = Output(video)
    out.activate()
    assert requests == ["pli"]
    out.push(_packet(b"\x31delta", False))
    assert not out.queue, "video is held until a keyframe"
    out.push(_packet(b"\x10key", True))
    for _ in range(out.limit + 5):
        out.push(_packet(b"\x31delta", False))
    assert len(out.queue) <= out.limit and out.need_keyframe and out.dropped > 0
    assert requests == ["pli", "pli"]
    aout = Output(audio)
    aout.activate()
    for i in range(aout.limit + 7):
        aout.push(_packet(bytes([i]), True))
    assert len(aout.queue) == aout.limit and aout.dropped == 7
    assert bytes(aout.queue[0]) == bytes([7]), "the oldest went first"


def test_the_sink_turns_frames_into_relay_frames_and_end_into_none() -> None:
    got: list[Any] = []
    sink = EncodedSink(got.append, 90000, "VP8")
    for data, ts in ((b"\x10abc", 3000), (b"\x31def", 6000)):
        frame = type("F", (), {"data": data, "timestamp": ts})()
        sink.put((None, frame))  # type: ignore[arg-type]
    sink.put(None)
    sink.put(None)
    assert bytes(got[0]) == b"\x10abc" and got[0].pts == 3000 and got[0].keyframe
    assert bytes(got[1]) == b"\x31def" and got[1].pts == 6000 and not got[1].keyframe
    assert got[2:] == [None]


async def test_publishing_again_replaces_the_old_connection(relay: RelayThread, hooks: Hooks) -> None:
    first = await _publish(relay)
    sub = await _subscribe(relay, "viewer")
    second = None
    try:
        assert await sub.wait_video(3, 15)
        second = await _publish(relay)
        assert [e[0] for e in hooks.events] == ["published", "unpublished", "published"]
        assert hooks.events[1][4] == "replaced"
        await eventually(lambda: sub.received.ended, 5, what="the old connection's viewers are told by its end")
        again = await _subscribe(relay, "viewer")
        try:
            assert await again.wait_video(3, 15)
        finally:
            await again.close()
    finally:
        await sub.close()
        await first.close()
        if second is not None:
            await second.close()


# -- joining viewers start from the newest group of pictures -----------------------------------


def _timed(data: bytes, pts: int) -> Frame:
    return Frame(data, pts, keyframe=not data[0] & 0x01)


def test_the_gop_cache_keeps_the_newest_keyframe_and_what_follows() -> None:
    from live.media.relay.gop import GopCache

    gop = GopCache(max_age=1.0, max_frames=5, max_bytes=100)
    gop.add(_timed(b"\x31d0", 0), keyframe=False, now=0.0)
    assert gop.replay(0.0) == [], "nothing before the first keyframe"
    gop.add(_timed(b"\x10k1", 3000), keyframe=True, now=0.1)
    gop.add(_timed(b"\x31d1", 6000), keyframe=False, now=0.13)
    gop.add(_timed(b"\x31d2", 9000), keyframe=False, now=0.16)
    replay = gop.replay(0.2)
    assert [bytes(p) for p in replay] == [b"\x10k1", b"\x31d1", b"\x31d2"]
    # caught up in three ticks of the clock, ending at the newest frame's time
    assert [p.pts for p in replay] == [8998, 8999, 9000]
    assert [p.pts for p in gop.packets] == [3000, 6000, 9000], "the kept frames are not changed"
    assert gop.replay(1.2) == [], "a keyframe older than max_age is not replayed"
    gop.add(_timed(b"\x10k2", 12000), keyframe=True, now=2.0)
    assert [bytes(p) for p in gop.replay(2.0)] == [b"\x10k2"], "a new keyframe starts a new group"
    for i in range(4):
        gop.add(_timed(b"\x31dd", 15000 + i), keyframe=False, now=2.0)
    assert len(gop.replay(2.0)) == 5
    gop.add(_timed(b"\x31dd", 15004), keyframe=False, now=2.0)
    assert gop.replay(2.0) == [], "past max_frames the group is dropped"
    gop.add(_timed(b"\x31dd", 15005), keyframe=False, now=2.0)
    assert gop.packets == [], "and stays dropped until the next keyframe"
    gop.add(_timed(b"\x10" + bytes(98), 20000), keyframe=True, now=3.0)
    gop.add(_timed(b"\x31dd", 20001), keyframe=False, now=3.0)
    assert gop.replay(3.0) == [], "past max_bytes the group is dropped"
    assert gop.replays == 3


def test_a_joining_output_starts_from_the_kept_group_without_asking_for_a_keyframe() -> None:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    video = Source(_FakePublication(), "video", vp8, _no_upstream)  # type: ignore[arg-type]
    requests: list[str] = []
    video.request_keyframe = lambda: requests.append("pli")  # type: ignore[method-assign]
    video.on_frame(_timed(b"\x10key", 0))
    video.on_frame(_timed(b"\x31delta", 3000))
    out = Output(video)
    video.add(out)
    out.activate()
    assert requests == [] and not out.need_keyframe
    assert [bytes(p) for p in out.queue] == [b"\x10key", b"\x31delta"]
    video.on_frame(_timed(b"\x31next", 6000))
    assert [p.pts for p in out.queue] == [2999, 3000, 6000]
    # with the group too old to replay, the output waits for a keyframe and asks for one
    video.gop.keyframe_at -= 10
    late = Output(video)
    late.activate()
    assert requests == ["pli"] and late.need_keyframe and not late.queue


async def test_a_late_joiner_starts_from_the_kept_group_not_a_new_keyframe(relay: RelayThread) -> None:
    pub = await _publish(relay)
    first = await _subscribe(relay, "early")
    try:
        assert await first.wait_video(5, 15)
        source = relay.relay.publications[(ROOM, "host")].sources["video"]
        # The first viewer's PLI brought a keyframe; no further PLI can reach the publisher now.
        source.throttle.interval = 60.0
        source.throttle.last = time.monotonic()
        plis = source.throttle.sent
        started = time.monotonic()
        late = await _subscribe(relay, "late")
        try:
            assert await late.wait_video(1, 10)
            assert late.received.first_video_at is not None
            # set-up (ICE, DTLS) plus one decode: well under a second, while a PLI would wait 60 s
            assert late.received.first_video_at - started < 3.0
            assert await late.wait_video(10, 5), "live frames follow the replayed ones"
            assert source.throttle.sent == plis and source.gop.replays >= 1
        finally:
            await late.close()
    finally:
        await first.close()
        await pub.close()


async def test_a_counting_subscriber_counts_encoded_frames_and_never_decodes(
    relay: RelayThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from live.media.peers import CountingSubscriber

    decoders: list[int] = []
    real_worker = aiortc.rtcrtpreceiver.decoder_worker

    def decoder_worker(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
        decoders.append(id(loop))
        real_worker(loop, *args)

    monkeypatch.setattr(aiortc.rtcrtpreceiver, "decoder_worker", decoder_worker)
    pub = await _publish(relay)
    counter = CountingSubscriber()
    offer = await counter.offer()
    await counter.accept(await relay.call(lambda r: r.subscribe(ROOM, "counter", "host", offer)))
    try:
        assert await counter.wait_video(30, 15)
        await eventually(lambda: counter.received.frames["audio"] >= 30, 5)
        assert counter.received.first_video_at is not None
        assert counter.received.sizes == set() and counter.received.pictures == set()
        assert decoders == [], "neither the relay nor the counting subscriber decodes"
    finally:
        await counter.close()
        await pub.close()
    await eventually(lambda: counter.received.ended, 5)


async def test_a_publisher_can_hold_its_bitrate_against_remb(relay: RelayThread) -> None:
    pc, offer = await publisher(bitrate=900_000)
    answer = await relay.call(lambda r: r.publish(ROOM, "host", offer))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    sub = await _subscribe(relay, "viewer")
    try:
        assert await sub.wait_video(5, 15)
        sender = next(t.sender for t in pc.getTransceivers() if t.kind == "video")

        def target() -> int | None:
            encoder = getattr(sender, "_RTCRtpSender__encoder", None)
            return getattr(encoder, "target_bitrate", None)

        # the relay's REMB (its own estimate) would move the encoder; it stays where it was put
        await eventually(lambda: target() == 900_000, 10)
        await asyncio.sleep(1.0)  # under test: it stays there a while (nothing to wait for)
        assert target() == 900_000
    finally:
        await sub.close()
        await pc.close()
