"""The wire codec: frames <-> messages, in MessagePack (`live.v1.msgpack`) or JSON (`live.v1.json`).

Decoding validates a client message against `SCHEMAS`, a table of message type -> fields, so
everything past the codec may trust field types. Every way a frame can be wrong is a subclass of
`FrameError`, which carries the `ref` when one could be read (so the error reply echoes it)::

    FrameError                  invalid_request, the connection stays open
    ├── NotDecodable            not MessagePack / not JSON / not UTF-8
    ├── NotAMap                 decoded, but not a map with string keys
    ├── MissingType             no `type`, or `type` not a string
    ├── UnknownType             `type` names no client message
    └── BadFields               fields missing or of the wrong type (`fields` says which)

Encoding never fails for the server's own messages. A batch of already-encoded messages becomes
one frame by concatenation (a JSON array, or a MessagePack array header + the parts), so a fan-out
encodes each event once per node and batches per connection without re-encoding.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import struct
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from live.errors import ErrorCode, LiveError

MSGPACK = "live.v1.msgpack"
JSON = "live.v1.json"


class Encoding(str, enum.Enum):
    """A wire encoding; the value is its WebSocket subprotocol."""

    JSON = JSON
    MSGPACK = MSGPACK

    @property
    def binary(self) -> bool:
        return self is Encoding.MSGPACK


def negotiate(offered: Sequence[str]) -> tuple[Encoding, str | None]:
    """The encoding for a client's offered subprotocols, and the subprotocol to accept.

    The client's preference order wins; with none offered (or none we speak) the connection is
    JSON and the handshake names no subprotocol.
    """
    for name in offered:
        name = name.strip()
        if name in (MSGPACK, JSON):
            return Encoding(name), name
    return Encoding.JSON, None


# -- errors -----------------------------------------------------------------------------------


class FrameError(LiveError):
    """A client frame that is not a valid message; answered with an `invalid_request` error."""

    code = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, ref: Any = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.fields = fields

    def reply(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code.value, "message": self.message}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.fields:
            out["fields"] = self.fields
        return out


class NotDecodable(FrameError):
    """The bytes are not MessagePack / JSON in this connection's encoding."""


class NotAMap(FrameError):
    """The frame decoded to something other than a map with string keys."""


class MissingType(FrameError):
    """The map has no string `type`."""


class UnknownType(FrameError):
    """`type` names no client message."""


class BadFields(FrameError):
    """Fields are missing or of the wrong type."""


# -- field schemas -----------------------------------------------------------------------------

ROOM_KINDS = ("live", "group", "community")
MAX_ID = 64


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a client message: a checker returning an error text (or None when valid)."""

    check: Callable[[Any], str | None]
    required: bool = True


def _string(max_len: int, *, min_len: int = 1) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if not min_len <= len(value) <= max_len:
            return f"must be {min_len}-{max_len} characters"
        return None

    return check


def _room(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    kind, sep, ident = value.partition(":")
    if not sep or kind not in ROOM_KINDS or not 1 <= len(ident) <= MAX_ID:
        return "must be live:{id}, group:{id} or community:{id}"
    return None


def _seq(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be an integer >= 0"
    return None


def _since(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a map {epoch, seq}"
    epoch = value.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, (str, int)):
        return "epoch must be a string or an integer"
    if _seq(value.get("seq")) is not None:
        return "seq must be an integer >= 0"
    return None


def _text(value: Any) -> str | None:
    # The length rule (500, `message_too_long`) belongs to chat; here only a sanity bound.
    if not isinstance(value, str):
        return "must be a string"
    if not value.strip():
        return "must not be empty"
    return None


def _sdp(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string (SDP)"
    return None


def _ref(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "must be a string or an integer"
    if isinstance(value, str) and len(value) > 128:
        return "must be at most 128 characters"
    return None


ROOM = Field(_room)
_USER = Field(_string(MAX_ID), required=False)

SCHEMAS: dict[str, dict[str, Field]] = {
    "ping": {},
    "room.join": {"room": ROOM, "since": Field(_since, required=False)},
    "room.leave": {"room": ROOM},
    "chat.send": {"room": ROOM, "text": Field(_text), "nonce": Field(_string(64), required=False)},
    "chat.delete": {"room": ROOM, "seq": Field(_seq), "reason": Field(_string(500, min_len=0), required=False)},
    "reaction.send": {"room": ROOM, "kind": Field(_string(32))},
    "stage.request": {"room": ROOM, "user_id": _USER},
    "stage.invite": {"room": ROOM, "user_id": _USER},
    "stage.accept": {"room": ROOM, "user_id": _USER},
    "stage.remove": {"room": ROOM, "user_id": _USER},
    "media.publish": {"room": ROOM, "sdp": Field(_sdp)},
    "media.subscribe": {"room": ROOM, "sdp": Field(_sdp), "publisher": _USER},
    "media.stop": {"room": ROOM, "publisher": _USER},
}


# -- decoding ----------------------------------------------------------------------------------


def decode(frame: bytes | str, encoding: Encoding) -> dict[str, Any]:
    """One validated client message from a frame; raises a `FrameError` subclass."""
    raw = _parse(frame, encoding)
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        kind = "an array" if isinstance(raw, list) else type(raw).__name__
        raise NotAMap(f"a message must be a map with string keys, not {kind}")
    ref = raw.get("ref")
    if ref is not None and _ref(ref) is not None:
        raise BadFields("ref must be a string (<= 128) or an integer", fields={"ref": _ref(ref) or ""})
    kind = raw.get("type")
    if kind is None:
        raise MissingType("the message has no type", ref=ref, fields={"type": "required"})
    if not isinstance(kind, str):
        raise MissingType("type must be a string", ref=ref, fields={"type": "must be a string"})
    schema = SCHEMAS.get(kind)
    if schema is None:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise UnknownType(f"unknown message type {shown!r}", ref=ref, fields={"type": "unknown"})
    problems: dict[str, str] = {}
    for name, field in schema.items():
        value = raw.get(name)
        if value is None:
            if field.required:
                problems[name] = "required"
            continue
        problem = field.check(value)
        if problem is not None:
            problems[name] = problem
    if problems:
        raise BadFields(f"invalid {kind}: " + ", ".join(sorted(problems)), ref=ref, fields=problems)
    return raw


def _parse(frame: bytes | str, encoding: Encoding) -> Any:
    if encoding is Encoding.MSGPACK:
        if isinstance(frame, str):
            raise NotDecodable("this connection speaks MessagePack: send binary frames")
        try:
            return msgpack.unpackb(frame, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise NotDecodable(f"not MessagePack ({type(exc).__name__})") from None
        except Exception:  # noqa: BLE001 - msgpack raises a few other types on garbage
            raise NotDecodable("not MessagePack") from None
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            raise NotDecodable("not JSON (the bytes are not UTF-8)") from None
    try:
        return json.loads(frame)
    except (ValueError, RecursionError):
        raise NotDecodable("not JSON") from None


# -- encoding ----------------------------------------------------------------------------------


def encode_one(message: dict[str, Any], encoding: Encoding) -> bytes:
    """One message in `encoding`, as bytes (UTF-8 for JSON), ready to batch or send."""
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def batch(parts: Sequence[bytes], encoding: Encoding) -> bytes | str:
    """One frame holding `parts` (each from `encode_one`): the message itself, or an array.

    Returns str for JSON (a text frame) and bytes for MessagePack (a binary frame).
    """
    if encoding is Encoding.MSGPACK:
        if len(parts) == 1:
            return parts[0]
        return _array_header(len(parts)) + b"".join(parts)
    if len(parts) == 1:
        return parts[0].decode()
    return "[" + b",".join(parts).decode() + "]"


def encode(messages: Sequence[dict[str, Any]], encoding: Encoding) -> bytes | str:
    """A frame of one or more messages (a convenience over `encode_one` + `batch`)."""
    return batch([encode_one(m, encoding) for m in messages], encoding)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def decode_server_frame(frame: bytes | str) -> list[dict[str, Any]]:
    """The messages in a server frame (one message or a batch): what clients do."""
    value = msgpack.unpackb(frame, raw=False) if isinstance(frame, bytes) else json.loads(frame)
    return value if isinstance(value, list) else [value]
