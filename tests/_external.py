"""Build a model that keeps its weights after the flatbuffer (Buffer.offset/size, as > 2 GB models do)."""

from __future__ import annotations

from pathlib import Path

from ai_edge_litert.tools import flatbuffer_utils


def externalize(source: Path, target: Path, align: int = 64) -> None:
    model = flatbuffer_utils.read_model(str(source))
    moved = [(b, bytes(b.data)) for b in model.buffers if b.data is not None and len(b.data) >= 64]
    for b, data in moved:
        b.data, b.offset, b.size = None, 2, len(data)  # placeholders: the fields must exist in the first pass
    head = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    pos = len(head) + (-len(head) % align)
    blobs = []
    for b, data in moved:
        b.offset = pos
        blobs.append((pos, data))
        pos += len(data) + (-len(data) % align)
    head = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    out = bytearray(head)
    for offset, data in blobs:
        assert offset >= len(out), "the flatbuffer grew between passes"
        out += b"\0" * (offset - len(out)) + data
    target.write_bytes(bytes(out))
