"""Prepared frames (`live.frames`): a batch is encoded and framed once per encoding, and what it
writes is exactly the WebSocket frame a client reads as those messages."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from live.frames import Batch, Batches, Encoding, join

MESSAGES = [{"type": "chat.message", "seq": i, "text": "é" * i} for i in range(1, 4)]


def parsed(wire: bytes) -> Frame:
    """The frame a client reads from `wire` (the websockets parser, unmasked server frames)."""
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def decoded(frame: Frame) -> Any:
    if frame.opcode is Opcode.BINARY:
        return msgpack.unpackb(frame.data)
    assert frame.opcode is Opcode.TEXT
    return json.loads(frame.data.decode())


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("n", [1, 3])
def test_a_batch_s_wire_is_the_frame_of_its_messages(encoding: Encoding, n: int) -> None:
    batch = Batch.of(MESSAGES[:n], encoding)
    frame = parsed(batch.wire())
    assert frame.fin
    assert decoded(frame) == (MESSAGES[0] if n == 1 else MESSAGES[:n])
    assert batch.wire() is batch.wire()  # built once, then shared


@pytest.mark.parametrize("size", [10, 200, 70_000])
def test_every_length_encoding_of_the_header(size: int) -> None:
    batch = Batch.of([{"type": "x", "pad": "p" * size}], Encoding.JSON)
    assert decoded(parsed(batch.wire())) == {"type": "x", "pad": "p" * size}


def test_a_json_payload_stays_bytes() -> None:
    parts = [b'{"a":1}', b'{"b":2}']
    assert join(parts, Encoding.JSON) == b'[{"a":1},{"b":2}]'
    assert join(parts[:1], Encoding.JSON) is parts[0]


def test_batches_are_made_once_per_encoding_and_carry_their_seqs() -> None:
    batches = Batches(MESSAGES, [1, 2, 3])
    assert batches.get(Encoding.JSON) is batches.get(Encoding.JSON)
    batch = batches.get(Encoding.MSGPACK)
    assert (batch.first_seq, batch.last_seq, batch.count) == (1, 3, 3)
    assert batch.subset([0, 2]).seqs == (1, 3)
    assert len(batch) == sum(len(p) for p in batch.parts)
    unordered = Batch.of(MESSAGES[:2], Encoding.JSON, [5, 4])
    assert not unordered.ordered and unordered.first_seq is None
