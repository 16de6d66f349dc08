"""Server messages on the wire: encoded once per encoding, framed once per batch.

A room event reaches every local connection in the room, so what it costs per recipient is what
fan-out costs. Here that is as little as the wire allows:

- `encode_one(message, encoding)`: one message's bytes, MessagePack (`live.v1.msgpack`) or UTF-8
  JSON (`live.v1.json`), made once per node and encoding whoever gets it.
- `join(parts, encoding)`: the payload of one frame holding several messages: a JSON array
  joined from the parts, or a MessagePack array header followed by them. Bytes throughout: a JSON
  text frame's payload is its UTF-8, never decoded to str and encoded back.
- `Batch`: messages that go to many sockets together (a bus message fanned out to a room, a
  notification to every connection of its recipients). Its WebSocket frame (header and payload,
  unmasked and uncompressed, as a server sends it; `live serve` turns compression off) is built on
  first use and then written as the same bytes object to every socket whose backlog is that batch
  alone: a room of 1,000 costs one join and one framing per encoding, not 1,000 of each.
"""

from __future__ import annotations

import enum
import itertools
import json
import struct
from collections.abc import Sequence
from typing import Any

import msgpack
from websockets.frames import Frame, Opcode

MSGPACK = "live.v1.msgpack"
JSON = "live.v1.json"


class Encoding(str, enum.Enum):
    """A wire encoding; the value is its WebSocket subprotocol."""

    JSON = JSON
    MSGPACK = MSGPACK

    @property
    def binary(self) -> bool:
        return self is Encoding.MSGPACK


def encode_one(message: dict[str, Any], encoding: Encoding) -> bytes:
    """One message in `encoding`, as bytes (UTF-8 for JSON), ready to batch or send."""
    if encoding is Encoding.MSGPACK:
        packed: bytes = msgpack.packb(message, use_bin_type=True)
        return packed
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def join(parts: Sequence[bytes], encoding: Encoding) -> bytes:
    """The payload of one frame holding `parts` (each from `encode_one`): the message itself, or
    an array of them."""
    if len(parts) == 1:
        return parts[0]
    if encoding is Encoding.MSGPACK:
        return _array_header(len(parts)) + b"".join(parts)
    return b"[" + b",".join(parts) + b"]"


def frame(payload: bytes, encoding: Encoding) -> bytes:
    """The whole WebSocket frame a server writes for `payload` (binary for MessagePack, text for
    JSON; no mask, no extension)."""
    opcode = Opcode.BINARY if encoding.binary else Opcode.TEXT
    return Frame(opcode, payload).serialize(mask=False)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


class Batch:
    """Encoded messages that go out together, in one encoding: to one socket or to thousands.

    `seqs` holds each message's chat `seq` (None for anything else), by which a connection drops
    what it already has. `len()` is the bytes the messages take in an outbox.
    """

    __slots__ = ("encoding", "parts", "seqs", "size", "first_seq", "last_seq", "_wire")

    def __init__(self, encoding: Encoding, parts: Sequence[bytes], seqs: Sequence[int | None] | None = None) -> None:
        self.encoding = encoding
        self.parts = tuple(parts)
        self.seqs: tuple[int | None, ...] = tuple(seqs) if seqs is not None else (None,) * len(self.parts)
        self.size = sum(len(p) for p in self.parts)
        # The chat seqs it carries when they rise one after another (the usual batch): a
        # connection that has none of them takes the whole batch with one comparison.
        chat = [s for s in self.seqs if s is not None]
        rising = all(a < b for a, b in itertools.pairwise(chat))
        self.first_seq: int | None = chat[0] if chat and rising else None
        self.last_seq: int | None = chat[-1] if chat and rising else None
        self._wire: bytes | None = None

    @classmethod
    def of(cls, messages: Sequence[dict[str, Any]], encoding: Encoding,
           seqs: Sequence[int | None] | None = None) -> Batch:
        return cls(encoding, [encode_one(m, encoding) for m in messages], seqs)

    @property
    def count(self) -> int:
        """How many messages it holds."""
        return len(self.parts)

    @property
    def ordered(self) -> bool:
        """Whether its chat seqs (if any) rise one after another."""
        return self.first_seq is not None or all(s is None for s in self.seqs)

    def payload(self) -> bytes:
        return join(self.parts, self.encoding)

    def wire(self) -> bytes:
        """The batch as one WebSocket frame, built once and shared by every socket it goes to."""
        if self._wire is None:
            self._wire = frame(self.payload(), self.encoding)
        return self._wire

    def subset(self, keep: Sequence[int]) -> Batch:
        """The messages at the indices `keep`, as a batch of their own."""
        return Batch(self.encoding, [self.parts[i] for i in keep], [self.seqs[i] for i in keep])

    def __len__(self) -> int:
        return self.size


class Batches:
    """The same messages as a `Batch` per encoding, each made when first asked for: what a
    fan-out holds while it hands them to connections of either encoding."""

    __slots__ = ("messages", "seqs", "_made")

    def __init__(self, messages: Sequence[dict[str, Any]], seqs: Sequence[int | None] | None = None) -> None:
        self.messages = messages
        self.seqs = seqs
        self._made: dict[Encoding, Batch] = {}

    def get(self, encoding: Encoding) -> Batch:
        batch = self._made.get(encoding)
        if batch is None:
            batch = self._made[encoding] = Batch.of(self.messages, encoding, self.seqs)
        return batch
