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

Encoding the server's own messages (which never fails) and framing them once for many sockets
is `live.frames`'s; `encode` and `decode_server_frame` here are what a client does.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from live.errors import ErrorCode, LiveError
from live.frames import JSON, MSGPACK, Encoding, encode_one, join
from live.room_id import RoomId

__all__ = ["JSON", "MSGPACK", "Encoding", "encode_one"]


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

MAX_ID = 64
MAX_SEQ = 2**31 - 1  # chat seq columns are INTEGER (32 bits on PostgreSQL): a larger seq names nothing
MAX_INT64 = 2**63 - 1  # an integer epoch past 64 bits (epochs are short strings) names nothing either
REF_RANGE = (-(2**63), 2**64 - 1)  # the integers MessagePack carries: a `ref` must fit to be echoed
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a client message: a checker returning an error text (or None when valid)."""

    check: Callable[[Any], str | None]
    required: bool = True
    # Turns a checked value into its type (a room's name into a `RoomId`): parsed once, here.
    parse: Callable[[Any], Any] | None = None


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
    try:
        RoomId.parse(value)
    except ValueError as exc:
        return str(exc)
    return None


def _seq(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        return f"must be an integer in 0..{MAX_SEQ}"
    return None


def _epoch(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "epoch must be a string or an integer"
    if isinstance(value, int) and not 0 <= value <= MAX_INT64:
        return f"epoch must be an integer in 0..{MAX_INT64}"
    if isinstance(value, str) and len(value) > MAX_ID:  # "": the client knows no epoch yet
        return f"epoch must be at most {MAX_ID} characters"
    return None


def _since(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a map {epoch, seq}"
    problem = _epoch(value.get("epoch"))
    if problem is not None:
        return problem
    if _seq(value.get("seq")) is not None:
        return f"seq must be an integer in 0..{MAX_SEQ}"
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
    if isinstance(value, int) and not REF_RANGE[0] <= value <= REF_RANGE[1]:
        return "must be an integer of at most 64 bits"
    if isinstance(value, str) and _bad_string(value) is not None:
        return "must not hold NUL characters or lone surrogates"
    return None


def _bad_string(value: str) -> str | None:
    """Why a string can be neither stored nor sent back (None when it can): a lone surrogate has
    no UTF-8 form (no database stores it, no JSON or MessagePack frame carries it back), and
    PostgreSQL refuses NUL. The same rule as HTTP bodies (`live.http.schemas.storable`)."""
    if "\x00" in value:
        return "must not hold NUL characters"
    if _LONE_SURROGATE.search(value):
        return "must not hold lone surrogates"
    return None


def _bad_strings(message: dict[str, Any]) -> dict[str, str]:
    """Every field whose value (at any depth) or key holds a string `_bad_string` refuses."""
    problems: dict[str, str] = {}
    for name, value in message.items():
        problem = _bad_string(name)
        stack = [value]
        while problem is None and stack:
            item = stack.pop()
            if isinstance(item, str):
                problem = _bad_string(item)
            elif isinstance(item, dict):
                for key, inner in item.items():
                    if isinstance(key, str) and (problem := _bad_string(key)) is not None:
                        break
                    stack.append(inner)
            elif isinstance(item, list):
                stack.extend(item)
        if problem is not None:
            problems[_printable(name)] = problem
    return problems


def _printable(name: str) -> str:
    """A field name as it can go back in an error (a key with a lone surrogate cannot)."""
    return name.encode("utf-8", "backslashreplace").decode() if _LONE_SURROGATE.search(name) else name


ROOM = Field(_room, parse=RoomId.parse)
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
        shape = "an array" if isinstance(raw, list) else type(raw).__name__
        raise NotAMap(f"a message must be a map with string keys, not {shape}")
    ref = raw.get("ref")
    if ref is not None and _ref(ref) is not None:
        raise BadFields("ref must be a string (<= 128) or an integer of at most 64 bits",
                        fields={"ref": _ref(ref) or ""})
    kind = raw.get("type")
    if kind is None:
        raise MissingType("the message has no type", ref=ref, fields={"type": "required"})
    if not isinstance(kind, str):
        raise MissingType("type must be a string", ref=ref, fields={"type": "must be a string"})
    bad = _bad_strings(raw)
    if bad:
        raise BadFields("invalid strings: " + ", ".join(sorted(bad)), ref=ref, fields=bad)
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
        elif field.parse is not None:
            raw[name] = field.parse(value)
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


# -- encoding (clients) -------------------------------------------------------------------------


def encode(messages: Sequence[dict[str, Any]], encoding: Encoding) -> bytes | str:
    """A frame of one or more messages as a client library sends it: str for JSON (a text
    frame), bytes for MessagePack (a binary frame)."""
    payload = join([encode_one(m, encoding) for m in messages], encoding)
    return payload if encoding.binary else payload.decode()


def decode_server_frame(frame: bytes | str) -> list[dict[str, Any]]:
    """The messages in a server frame (one message or a batch): what clients do."""
    value = msgpack.unpackb(frame, raw=False) if isinstance(frame, bytes) else json.loads(frame)
    return value if isinstance(value, list) else [value]
