"""The relay's RTP sender: prepared payloads out to one viewer, with as little Python per packet as it takes.

aiortc's `RTCRtpSender._run_rtp` does, for every packet of every viewer: packetize the frame
(`Encoder.pack`, which also copies the frame's bytes), build an `RtpPacket`, read the NTP clock
through `datetime`, serialize the header extensions, then four awaits (DTLS, ICE transport, aioice
connection, its protocol) before the `sendto`. For one publisher and hundreds of viewers almost
all of that is the same work done again: the payloads are the same for every viewer, and only the
header's SSRC, sequence number and timestamp (and the SRTP keys) differ.

`ForwardingSender` replaces that loop for the relay's own subscriber connections:

- the payloads come prepared, made once per frame and source (`Frame.payloads`), shared by all;
- the header is serialized once per viewer (by aiortc, so the negotiated extensions are laid out
  as aiortc would); per frame only its timestamp and send time are patched in, per packet its
  marker bit and sequence number;
- SRTP `protect` and the datagram `sendto` are called directly on the selected ICE pair, with no
  await in between (falling back to aiortc's awaited path when the pair is not known);
- the RTCP sender-report fields and the retransmission history (for NACK, through RTX when
  negotiated) are kept up to date, as the stock sender keeps them.

A subscriber's PLI or FIR is handed to the relay (`on_keyframe_request`): there is no encoder here
to flag. The private aiortc/aioice fields this touches are checked by `check_sender()` at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32

log = logging.getLogger("live.media")

_S = "_RTCRtpSender__"  # the mangled prefix of RTCRtpSender's private attributes
_NEEDED = ("rtp_started", "rtp_exited", "rtp_header_extensions_map", "mid", "ntp_timestamp",
           "rtp_timestamp", "octet_count", "packet_count", "rtx_payload_type", "rtx_sequence_number",
           "track", "transport")
_SEQ = struct.Struct("!H")
_U32 = struct.Struct("!L")
NTP_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)


def check_sender() -> None:
    """Fail at start-up, not mid-live, if aiortc's sender no longer has the fields used here."""
    names = RTCRtpSender.__init__.__code__.co_names + RTCRtpSender._run_rtp.__code__.co_names
    missing = [n for n in _NEEDED if f"{_S}{n}" not in names]
    if missing or not hasattr(RTCRtpSender, "_send_keyframe") or not hasattr(RTCRtpSender, "_retransmit"):
        raise RuntimeError(f"aiortc's RTCRtpSender changed ({missing}): the relay's sender needs aiortc 1.10-1.x")


def _direct_send(dtls: Any) -> Callable[[bytes], None] | None:
    """`protect` + `sendto` on the selected ICE pair, when this aiortc/aioice exposes them."""
    try:
        srtp = dtls._tx_srtp
        pair = dtls.transport._connection._nominated.get(1)
        udp = pair.protocol.transport
        address = pair.remote_addr
        protect = srtp.protect
    except AttributeError:
        return None
    if udp is None or udp.is_closing():
        return None

    def send(data: bytes) -> None:
        udp.sendto(protect(data), address)

    return send


class ForwardingSender(RTCRtpSender):
    """An RTCRtpSender that forwards prepared frames and reports a subscriber's PLI/FIR to the relay."""

    on_keyframe_request: Callable[[], None] | None
    _history: dict[int, bytes]  # sequence number (mod RTP_HISTORY_SIZE) -> the packet sent

    @classmethod
    def adopt(cls, sender: RTCRtpSender, on_keyframe_request: Callable[[], None]) -> ForwardingSender:
        sender.__class__ = cls
        assert isinstance(sender, ForwardingSender)
        sender.on_keyframe_request = on_keyframe_request
        sender._history = {}
        return sender

    def _send_keyframe(self) -> None:
        callback = self.on_keyframe_request
        if callback is not None:
            callback()

    async def _retransmit(self, sequence_number: int) -> None:
        data = self._history.get(sequence_number % RTP_HISTORY_SIZE)
        if data is None or _SEQ.unpack_from(data, 2)[0] != sequence_number:
            return
        rtx_type = getattr(self, f"{_S}rtx_payload_type")
        if rtx_type is not None:
            extensions = getattr(self, f"{_S}rtp_header_extensions_map")
            packet = wrap_rtx(RtpPacket.parse(data, extensions), payload_type=rtx_type,
                              sequence_number=getattr(self, f"{_S}rtx_sequence_number"), ssrc=self._rtx_ssrc)
            setattr(self, f"{_S}rtx_sequence_number", (packet.sequence_number + 1) & 0xFFFF)
            data = packet.serialize(extensions)
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            pass

    def _header(self, payload_type: int) -> tuple[bytearray, int | None]:
        """This sender's RTP header (extensions included) and where its send time sits in it.

        Serialized once with aiortc's own code (so the negotiated extension ids and layout are
        aiortc's), twice with different send times to find the three bytes that carry it; per
        frame only the timestamp and send time are patched in, per packet the marker and sequence."""
        extensions = getattr(self, f"{_S}rtp_header_extensions_map")
        template = RtpPacket(payload_type=payload_type, sequence_number=0, timestamp=0, ssrc=self._ssrc)
        template.extensions.mid = getattr(self, f"{_S}mid")
        template.extensions.abs_send_time = 0
        zero = template.serialize(extensions)
        template.extensions.abs_send_time = 0xFFFFFF
        ones = template.serialize(extensions)
        changed = [i for i in range(len(zero)) if zero[i] != ones[i]]
        at = changed[0] if len(changed) == 3 and changed[2] - changed[0] == 2 else None
        return bytearray(zero), at

    async def _run_rtp(self, codec: Any) -> None:
        getattr(self, f"{_S}rtp_started").set()
        dtls = self.transport
        history = self._history
        sequence_number = random_sequence_number()
        timestamp_origin = random32()
        payload_type = codec.payloadType
        header, send_time_at = self._header(payload_type)
        send: Callable[[bytes], None] | None = None
        octets = packets = 0
        try:
            while True:
                track = getattr(self, f"{_S}track")
                if track is None:
                    await asyncio.sleep(0.02)
                    continue
                frame = await track.recv()
                payloads = frame.payloads
                if not payloads:
                    continue
                state = dtls._state
                if state != DtlsState.CONNECTED:
                    if state in (DtlsState.CLOSED, DtlsState.FAILED):
                        raise ConnectionError("the subscriber's transport closed")
                    continue  # not up yet: nothing to send to
                if send is None:
                    send = _direct_send(dtls)
                timestamp = (timestamp_origin + frame.pts) & 0xFFFFFFFF
                ntp = int((time.time() + NTP_OFFSET) * 4294967296.0)
                _U32.pack_into(header, 4, timestamp)
                if send_time_at is not None:
                    header[send_time_at:send_time_at + 3] = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
                last = len(payloads) - 1
                for i, payload in enumerate(payloads):
                    header[1] = (0x80 if i == last else 0) | payload_type
                    _SEQ.pack_into(header, 2, sequence_number)
                    data = bytes(header) + payload
                    history[sequence_number % RTP_HISTORY_SIZE] = data
                    if send is not None:
                        send(data)
                    else:
                        await dtls._send_rtp(data)
                    octets += len(payload)
                    packets += 1
                    sequence_number = (sequence_number + 1) & 0xFFFF
                setattr(self, f"{_S}ntp_timestamp", ntp)
                setattr(self, f"{_S}rtp_timestamp", timestamp)
                setattr(self, f"{_S}octet_count", octets)
                setattr(self, f"{_S}packet_count", packets)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except OSError as exc:  # the socket went away under a direct send
            log.debug("forwarding stopped: %s", exc)
        except Exception:
            log.exception("forwarding to a subscriber failed")
        track = getattr(self, f"{_S}track")
        if track is not None:
            track.stop()
            setattr(self, f"{_S}track", None)
        getattr(self, f"{_S}rtp_exited").set()
