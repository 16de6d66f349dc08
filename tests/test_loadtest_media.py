"""The media peer (aiortc's stock MediaRelay) and the media scenario's non-decoding subscribers."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiortc import RTCSessionDescription

from live.media.peers import Subscriber, publisher
from loadtest.hdr import Histogram
from loadtest.peers.mediarelay_server import build_app
from tests.support.processes import ROOT, python_module
from tests.support.redis_server import free_port
from tests.support.servers import QuickServer
from tests.support.waiting import eventually


@pytest.fixture
async def peer_url() -> AsyncIterator[str]:
    """The peer's app under uvicorn, on this test's event loop."""
    port = free_port()
    server = QuickServer(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.stop()
    await asyncio.wait_for(task, 10)


async def test_the_mediarelay_peer_re_encodes_the_publisher_for_a_viewer(peer_url: str) -> None:
    async with httpx.AsyncClient(base_url=peer_url, timeout=30) as http:
        viewer = Subscriber()
        offer = await viewer.offer()
        assert (await http.post("/subscribe", json={"sdp": offer})).status_code == 404, "no one publishes yet"
        assert (await http.post("/publish", json={"sdp": "nope"})).status_code == 400
        pub, pub_offer = await publisher()
        try:
            reply = await http.post("/publish", json={"sdp": pub_offer})
            assert reply.status_code == 200
            await pub.setRemoteDescription(RTCSessionDescription(sdp=reply.json()["sdp"], type="answer"))
            reply = await http.post("/subscribe", json={"sdp": offer})
            assert reply.status_code == 200
            await viewer.accept(reply.json()["sdp"])
            assert await viewer.wait_video(15, 15)
            assert viewer.received.sizes == {(320, 180)}
            assert len(viewer.received.pictures) >= 5, "moving pictures, decoded"
            health = (await http.get("/healthz")).json()
            assert health == {"status": "ok", "publishing": True, "viewers": 1}
            assert (await http.delete("/publish")).status_code == 204
            await eventually(lambda: viewer.received.ended, 5, what="stopping the publisher ends its viewers")
            assert (await http.get("/healthz")).json()["viewers"] == 0
        finally:
            await viewer.close()
            await pub.close()


async def test_media_scenario_against_the_peer_with_counting_subscribers_in_two_processes(tmp_path: Path) -> None:
    port = free_port()
    async with python_module("loadtest.peers.mediarelay_server", "--port", str(port), port=port) as peer:
        out = tmp_path / "peer.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest", "media", "--target", "mediarelay", "--url", f"http://127.0.0.1:{port}",
            "--no-decode", "--subscribers", "3", "--processes", "2", "--ramp", "0.3", "--duration", "2", "--quiet",
            "--out", str(out),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, stderr.decode()
        result = json.loads(out.read_text())
        assert result["target"] == "mediarelay" and result["config"]["decode"] is False
        # two subscriber processes (2 + 1 subscribers) beside the publisher's, each reporting its CPU
        assert result["generator"]["processes"] == 3 and sorted(result["generator"]["cpu"]) == ["0", "1", "2"]
        s = result["summary"]
        assert s["connected"] == 3 and s["failed"] == 0
        assert s["fps_min"] > 10, "encoded frames counted for every subscriber"
        assert s["kbps_avg"] > 0
        assert Histogram.from_json(result["latency"]).total == 3, "a first frame per subscriber"
        # the peer's process was found by its port and sampled; its CPU is shared out per subscriber
        assert s["server"] and s["server"][0]["pid"] == peer.pid
        assert s["server_cpu_per_subscriber"] is not None
        assert "mediarelay" in stdout.decode()


# -- packet loss over a window -----------------------------------------------------------------


def _video_receiver() -> Any:
    """A real aiortc video receiver (never started: packets are handed to it), VP8 with RTX."""
    from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("video", transport)
    codecs = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    codecs[96] = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    codecs[97] = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97,
                                       parameters={"apt": 96})
    receiver._RTCRtpReceiver__rtx_ssrc[RTX_SSRC] = MEDIA_SSRC  # type: ignore[attr-defined]
    return receiver


MEDIA_SSRC, RTX_SSRC = 1111, 2222


async def _feed(receiver: Any, seqs: list[int], *, rtx: bool = False) -> None:
    from aiortc.rtp import RtpPacket

    for n, seq in enumerate(seqs):
        payload = b"\x10" + bytes(40)  # a VP8 payload descriptor and a slice of a frame
        if rtx:  # a retransmission: its own SSRC and numbering, the original seq first
            packet = RtpPacket(payload_type=97, sequence_number=n + 1, timestamp=seq * 3000, ssrc=RTX_SSRC,
                               payload=seq.to_bytes(2, "big") + payload)
        else:
            packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 3000, ssrc=MEDIA_SSRC,
                               payload=payload)
        await receiver._handle_rtp_packet(packet, arrival_time_ms=n)


async def test_packet_loss_counts_the_video_stream_not_its_retransmissions() -> None:
    from live.media.peers import receive_counts
    from loadtest.media import window_loss

    receiver = _video_receiver()
    # Before the window: 100 packets numbered, 5 of them lost on the way.
    await _feed(receiver, [s for s in range(1, 101) if s not in range(40, 45)])
    before = receive_counts(receiver)
    assert before == (100, 95)
    # In the window: 100 more numbered, 10 lost, and 15 retransmissions on the RTX stream.
    await _feed(receiver, [s for s in range(101, 201) if s not in range(150, 160)])
    await _feed(receiver, list(range(150, 160)) + list(range(40, 45)), rtx=True)
    after = receive_counts(receiver)
    assert after == (200, 185)
    assert window_loss(before, after) == 10.0
    # What the loss used to be read from: getStats() keeps one inbound-rtp entry per receiver,
    # written for each SSRC in turn, so it now describes the 15 retransmissions, not the video.
    entry = next(s for s in (await receiver.getStats()).values() if s.type == "inbound-rtp")
    assert entry.packetsReceived == 15 and entry.ssrc == RTX_SSRC


def test_window_loss_is_a_share_of_what_was_numbered() -> None:
    from loadtest.media import window_loss

    assert window_loss((0, 0), (0, 0)) == 0.0  # nothing numbered: no loss, no division
    assert window_loss((100, 95), (100, 95)) == 0.0
    assert window_loss((100, 95), (300, 245)) == 25.0
    assert window_loss((100, 95), (200, 205)) == 0.0  # duplicates: more arrived than numbered
    assert window_loss((100, 95), (200, 95)) == 100.0


async def test_a_raw_viewer_counts_frames_and_loss_from_the_rtp_it_receives(peer_url: str) -> None:
    """`--raw`: a real peer until its transport is up, then RTP counted where it arrives."""
    from loadtest.raw_viewer import RawCountingSubscriber

    async with httpx.AsyncClient(base_url=peer_url, timeout=30) as http:
        pub, pub_offer = await publisher()
        viewer = RawCountingSubscriber()
        try:
            reply = await http.post("/publish", json={"sdp": pub_offer})
            await pub.setRemoteDescription(RTCSessionDescription(sdp=reply.json()["sdp"], type="answer"))
            offer = await viewer.offer()
            assert viewer.hooked >= 1, "the ICE connection's UDP protocols were gathered with the offer"
            reply = await http.post("/subscribe", json={"sdp": offer})
            await viewer.accept(reply.json()["sdp"])
            assert viewer.video_types and viewer.audio_types and not viewer.video_types & viewer.audio_types
            assert await viewer.wait_video(30, 20), "frames (marker bits) counted"
            assert viewer.received.first_video_at is not None and viewer.received.frames["audio"] > 20
            expected, received, size = viewer.counts()
            assert expected > 0 and received > 0 and size > 1000
            assert received >= expected * 0.95, "loopback loses next to nothing"
        finally:
            await viewer.close()
            await pub.close()
            await http.delete("/publish")


def test_a_raw_viewer_follows_sequence_numbers_across_the_wrap() -> None:
    """Expected packets from the extended sequence numbers: 65,535 -> 0 is one step, not a loss
    of 65,535; a late packet (behind the top) is received, not expected again; a gap is loss."""
    from loadtest.raw_viewer import RawCountingSubscriber

    async def run() -> tuple[int, int, int]:
        viewer = RawCountingSubscriber()
        viewer.video_types.add(96)
        count = viewer._counter(lambda data, addr: None)

        def rtp(seq: int, marker: bool) -> bytes:
            return bytes([0x80, (0x80 if marker else 0) | 96]) + seq.to_bytes(2, "big") + bytes(4) + \
                (1234).to_bytes(4, "big") + b"payload"

        for seq in (65533, 65534, 65535, 0, 2, 1, 3, 5):  # 1 arrives late; 4 never does
            count(rtp(seq, seq % 2 == 1), None)
        count(bytes([0x80, 200]) + bytes(30), None)  # RTCP: not counted
        try:
            return viewer.counts()
        finally:
            await viewer.close()

    expected, received, size = asyncio.run(run())
    assert (expected, received) == (9, 8) and size == 8 * 19
