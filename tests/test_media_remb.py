"""The relay's bandwidth estimate to publishers (REMB) has a floor: a relay busy forwarding must
not read its own delay as a congested network and starve every viewer's picture."""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rate import RemoteBitrateEstimator

from live.config import Settings
from live.media.passthrough import FlooredEstimator, PassThroughReceiver


def _abs_send_time(seconds: float) -> int:
    return int(seconds * (1 << 18)) & 0xFFFFFF  # 6.18 fixed point, 24 bits


def _feed(estimator: Any, packets: int) -> list[int]:
    """600-byte packets every 5 ms (about 1 Mbit/s); from the second second on each arrives 3 ms
    later than the one before (a queue growing: what a busy event loop looks like to a delay-based
    estimate)."""
    out = []
    for i in range(packets):
        sent = i * 0.005
        late = max(0, i - 200) * 0.003
        remb = estimator.add(abs_send_time=_abs_send_time(sent), arrival_time_ms=int((sent + late) * 1000) + 1000,
                             payload_size=600, ssrc=1234)
        if remb is not None:
            out.append(remb[0])
    return out


def test_a_growing_delay_pulls_the_stock_estimate_under_the_floor_but_not_the_relays() -> None:
    floor = 1_000_000
    stock = _feed(RemoteBitrateEstimator(), 800)
    floored = _feed(FlooredEstimator(RemoteBitrateEstimator(), floor), 800)
    assert stock and min(stock) < floor, stock  # the stock estimate backs off under the delay
    assert len(floored) == len(stock)
    assert min(floored) >= floor
    assert floored == [max(b, floor) for b in stock]  # above the floor it is the same estimate


async def test_the_relays_receivers_carry_the_configured_floor() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        adopted = PassThroughReceiver.adopt(receiver, lambda *_: None, 90000, "VP8", min_bitrate=750_000)
        estimator = adopted._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
        assert isinstance(estimator, FlooredEstimator) and estimator.floor == 750_000
        other = PassThroughReceiver.adopt(pc.addTransceiver("video", direction="recvonly").receiver,
                                          lambda *_: None, 90000, "VP8")
        assert not isinstance(other._RTCRtpReceiver__remote_bitrate_estimator,  # type: ignore[attr-defined]
                              FlooredEstimator)  # 0: no floor
    finally:
        await pc.close()
    assert Settings.load({"LIVE_SECRET": "x" * 40}).media_min_bitrate == 1_000_000
    assert Settings.load({"LIVE_SECRET": "x" * 40, "LIVE_MEDIA_MIN_BITRATE": "0"}).media_min_bitrate == 0
