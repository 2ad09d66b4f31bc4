"""Structural edits of a .tflite that keep every byte the file holds: no repacking.

Two edits, both TensorFlow-free:

- `reorder`: put a SignatureDef's inputs and outputs (and the signatures themselves) in a given
  order by permuting the 4-byte offsets of their vectors in place. A flatbuffer offset is relative
  to the slot that holds it, so an offset moved to another slot is recomputed for that slot.
  Nothing else changes: same size, only those slots differ.
- `set_signatures`: give a file a new list of signatures (e.g. add one to a file that has none).
  Offsets only point forward, so a new root Model table cannot sit after the data it names. It is
  written into a block inserted right after the 8-byte header, with the new SignatureDefs behind
  it; the root offset at byte 0 points at it. Every original byte after the header follows
  unchanged, `shift` bytes later (a multiple of 64, so every buffer keeps its alignment), and the
  absolute offsets of data kept after the flatbuffer (Buffer.offset, large custom options) are
  moved by `shift`. Anything appended after the flatbuffer (the associated-files zip of the
  TFLite Support metadata writer) moves along whole; zip readers locate it from its end record.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import flatbuffer as fb
from ._patch import absolute_offsets, check_written, copy_range, reserve
from .._io import write_atomic
from ..errors import LitesigError

SHIFT_ALIGN = 64  # the inserted block's size is a multiple of this: every alignment up to 64 bytes survives

# Model table slots (schema.fbs): 0 version (uint), 1..9 offsets to vectors/strings.
_MODEL_SCALAR_SLOTS = {0}
_MODEL_SLOTS = 10
_SIGNATURE_DEFS = 7


# ---------------------------------------------------------------------------------------------
# reorder


def reorder(
    content: bytes,
    order: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    *,
    signatures: Sequence[str] | None = None,
) -> bytes:
    """Put signature inputs/outputs (and optionally the signatures) in the given order.

    Args:
        content: the .tflite bytes.
        order: {signature key: (input names, output names)}, each a permutation of what the file has.
        signatures: the signature keys in the wanted order (a permutation of the file's), or None.

    Returns:
        The same bytes with only the permuted offset slots changed.

    Raises:
        LitesigError: a name list is not a permutation of the file's, or an offset would point backward.
    """
    data = bytearray(content)
    buf = fb._Buf(data)
    model = fb._Table(buf, buf.uoffset(0, "root table offset"), "model")
    sig_tables = model.tables(_SIGNATURE_DEFS, "signature_defs")
    keys = [t.string(2, f"{t.what}.signature_key") or "" for t in sig_tables]
    for key, (inputs, outputs) in order.items():
        if key not in keys:
            raise LitesigError(f"cannot reorder signature {key!r}: the file has {', '.join(keys) or 'none'}")
        table = sig_tables[keys.index(key)]
        for slot, wanted, kind in ((0, inputs, "inputs"), (1, outputs, "outputs")):
            _permute(buf, data, table, slot, list(wanted), f"signature {key!r} {kind}",
                     lambda t: t.string(0, f"{t.what}.name") or "")
    if signatures is not None:
        _permute(buf, data, model, _SIGNATURE_DEFS, list(signatures), "signatures",
                 lambda t: t.string(2, f"{t.what}.signature_key") or "")
    return bytes(data)


def _permute(buf: fb._Buf, data: bytearray, table: fb._Table, slot: int, wanted: list[str], what: str,
             name_of: object) -> None:
    start, count = table.vector(slot, 4, what)
    slots = [start + 4 * i for i in range(count)]
    targets = [buf.uoffset(p, what) for p in slots]
    names = [name_of(fb._Table(buf, t, what)) for t in targets]  # type: ignore[operator]
    if sorted(names) != sorted(wanted) or len(set(names)) != len(names):
        raise LitesigError(f"cannot reorder {what}: the file has {', '.join(names)}, the order names {', '.join(wanted)}")
    for pos, name in zip(slots, wanted):
        rel = targets[names.index(name)] - pos
        if not 0 < rel < 2**32:
            raise LitesigError(f"cannot reorder {what}: {name!r} lies before its new slot (flatbuffer offsets point forward)")
        struct.pack_into("<I", data, pos, rel)


# ---------------------------------------------------------------------------------------------
# set_signatures


@dataclass(frozen=True)
class NewSignature:
    """A SignatureDef to write: its key, subgraph, and (name, tensor index) pairs in order."""

    key: str
    subgraph_index: int
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class EditResult:
    """What `set_signatures` wrote: the size, the bytes inserted after the header, the absolute offsets moved."""

    path: Path
    size_bytes: int
    shift: int
    moved_offsets: int


class _Block:
    """Bytes laid out front to back at file position `base`; offsets are filled in once targets are placed."""

    def __init__(self, base: int, *, measuring: bool = False):
        self.base = base
        self.out = bytearray()
        self.measuring = measuring  # a first pass that only measures the block: offsets are not final yet

    @property
    def pos(self) -> int:
        return self.base + len(self.out)

    def align(self, n: int) -> None:
        self.out += b"\0" * (-self.pos % n)

    def put(self, fmt: str, *values: int) -> int:
        at = self.pos
        self.out += struct.pack("<" + fmt, *values)
        return at

    def point(self, field_pos: int, target: int) -> None:
        rel = target - field_pos
        if self.measuring:
            return
        if not 0 < rel < 2**31:
            raise LitesigError(f"internal error: offset from {field_pos} to {target} does not point forward")
        struct.pack_into("<I", self.out, field_pos - self.base, rel)

    def table(self, fields: Sequence[tuple[int, str] | None]) -> tuple[int, list[int]]:
        """A vtable then its table; fields are (size-format) or None when absent. Returns table position and field positions."""
        sizes = [struct.calcsize("<" + f[1]) if f else 0 for f in fields]
        table_len = 4 + sum(sizes)
        self.align(2)
        vt = self.pos
        offsets, at = [], 4
        for s in sizes:
            offsets.append(at if s else 0)
            at += s
        self.put("HH" + "H" * len(fields), 4 + 2 * len(fields), table_len, *offsets)
        self.align(4)
        table = self.put("i", self.pos - vt)
        positions = []
        for f in fields:
            positions.append(self.put(f[1], f[0]) if f else 0)
        return table, positions

    def string(self, text: str) -> int:
        self.align(4)
        raw = text.encode("utf-8")
        at = self.put("I", len(raw))
        self.out += raw + b"\0"
        return at

    def vector(self, count: int) -> tuple[int, list[int]]:
        """A vector of `count` offsets (filled later); returns its position and the element positions."""
        self.align(4)
        at = self.put("I", count)
        self.out += b"\0" * (4 * count)
        return at, [at + 4 + 4 * i for i in range(count)]


def signature_block(model: fb.Model, content: bytes | memoryview | mmap.mmap, signatures: Sequence[NewSignature],
                    *, keep_existing: bool) -> tuple[bytes, int]:
    """The block to insert at byte 8 and the new root position; absolute targets assume the shift.

    The shift is the block's length, padded to SHIFT_ALIGN.
    """
    buf = fb._Buf(content)
    old = fb._Table(buf, model.root, "model")
    if old.vt_len > 4 + 2 * _MODEL_SLOTS and any(old.field(s) for s in range(_MODEL_SLOTS, (old.vt_len - 4) // 2)):
        raise LitesigError("the Model table has fields this litesig does not know; refusing to rewrite its root")
    old_sigs = [t.pos for t in old.tables(_SIGNATURE_DEFS, "signature_defs")] if keep_existing else []

    def build(shift: int | None) -> tuple[bytearray, int]:
        b = _Block(8, measuring=shift is None)
        shift = shift or 0
        fields: list[tuple[int, str] | None] = []
        for slot in range(_MODEL_SLOTS):
            if slot == _SIGNATURE_DEFS:
                fields.append((0, "I"))
            elif slot in _MODEL_SCALAR_SLOTS:
                fields.append((int(old.scalar(slot, fb._U32)), "I"))
            else:
                fields.append((0, "I") if old.field(slot) else None)
        root, positions = b.table(fields)
        for slot in range(_MODEL_SLOTS):
            if slot != _SIGNATURE_DEFS and slot not in _MODEL_SCALAR_SLOTS and positions[slot]:
                b.point(positions[slot], buf.uoffset(old.field(slot), f"model field {slot}") + shift)
        vec, elems = b.vector(len(old_sigs) + len(signatures))
        b.point(positions[_SIGNATURE_DEFS], vec)
        for pos, target in zip(elems, old_sigs):
            b.point(pos, target + shift)
        for pos, sig in zip(elems[len(old_sigs):], signatures):
            table, (f_in, f_out, f_key, _, f_sub) = b.table([(0, "I"), (0, "I"), (0, "I"), None, (sig.subgraph_index, "I")])
            b.point(pos, table)
            b.point(f_key, b.string(sig.key))
            for field_pos, maps in ((f_in, sig.inputs), (f_out, sig.outputs)):
                vec, slots = b.vector(len(maps))
                b.point(field_pos, vec)
                for slot_pos, (name, index) in zip(slots, maps):
                    tm, (f_name, _f_tensor) = b.table([(0, "I"), (index, "I")])
                    b.point(slot_pos, tm)
                    b.point(f_name, b.string(name))
        b.align(4)
        return b.out, root

    out, _ = build(None)  # its length decides the shift, which the real offsets need
    shift = len(out) + (-len(out) % SHIFT_ALIGN)
    out, root = build(shift)
    out += b"\0" * (shift - len(out))
    return bytes(out), root


def set_signatures(
    model: str | os.PathLike[str],
    target: str | os.PathLike[str],
    signatures: Sequence[NewSignature],
    *,
    keep_existing: bool = True,
    replace: bool = True,
) -> EditResult:
    """Write `model` to `target` with `signatures` added (after the existing ones if `keep_existing`).

    The caller validates names and indices. The write is atomic (`replace=False`: never over an
    existing file, even in a race), and the result is re-read before it takes the target's name:
    it must parse with exactly the intended signatures.
    """

    source = Path(model)
    parsed = fb.read_model(source)
    with open(source, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        block, root = signature_block(parsed, mm, signatures, keep_existing=keep_existing)
    shift = len(block)
    offsets = absolute_offsets(parsed)
    size = parsed.size

    def fill(tmp: Path) -> None:
        with open(source, "rb") as src, open(tmp, "r+b") as dst:  # the temp file is new and empty: no O_TRUNC, which makes ext4 flush at close
            reserve(dst, size + shift)
            header = bytearray(src.read(8))
            struct.pack_into("<I", header, 0, root)
            dst.write(header)
            dst.write(block)
            copy_range(src, dst, 8, size - 8)
            dst.truncate()  # the file ends where the copy did, whatever was reserved
            for pos, value in offsets:
                dst.seek(pos + shift)
                dst.write(struct.pack("<Q", value + shift))
        check_written(tmp, after, str(source))

    kept = parsed.signatures if keep_existing else ()
    after = {s.key: {"inputs": [t.name for t in s.inputs], "outputs": [t.name for t in s.outputs]} for s in kept}
    for new in signatures:
        after[new.key] = {"inputs": [n for n, _ in new.inputs], "outputs": [n for n, _ in new.outputs]}
    write_atomic(target, fill, replace=replace)
    return EditResult(Path(target), size + shift, shift, len(offsets))
