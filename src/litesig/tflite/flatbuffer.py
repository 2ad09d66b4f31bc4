"""A TensorFlow-free, bounds-checked reader of .tflite flatbuffers.

The flatbuffers Python runtime has no verifier: a malformed file can make it read out of
bounds or raise anything. This reader checks every offset and length against the file before
it follows it, caps vector lengths, and never touches weight data (it records where a buffer
lives, not what it holds), so it is safe on hostile files and its cost does not grow with the
weights. Every failure is a `NotATFLiteModel` naming what is wrong.

Only the parts of the schema that litesig needs are read; the field slots follow
tensorflow/compiler/mlir/lite/schema/schema.fbs.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .._io import open_regular, unreadable
from ..errors import NotATFLiteModel

T = TypeVar("T")
FILE_IDENTIFIER = b"TFL3"
# More elements than this in one vector is not a model, it is an attack (or a corrupt length).
MAX_ELEMENTS = 5_000_000

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")


class _Buf:
    """Bounds-checked little-endian reads over bytes or a memory map, with a work budget.

    A well-formed file is read about once: every table, vector element and string lies in its own
    bytes. A hostile one can point many vector slots at one table whose vectors point at one table
    again, and so on, turning a small file into quadratic work. Reads are charged against a budget
    of twice the file size (plus slack); running out means shared or cyclic references.
    """

    __slots__ = ("data", "size", "budget", "end")

    def __init__(self, data: bytes | bytearray | mmap.mmap | memoryview):
        self.data = data
        self.size = len(data)
        self.budget = 2 * self.size + (1 << 20)
        self.end = 8  # the high-water mark of every table, vector and string read: where the model's bytes end

    def spend(self, nbytes: int, what: str) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise self.fail(f"{what}: the file refers to far more data than it holds (shared or cyclic references)")

    def fail(self, what: str) -> NotATFLiteModel:
        return NotATFLiteModel(f"corrupt: {what}")

    def read(self, fmt: struct.Struct, pos: int, what: str) -> int | float:
        if pos < 0 or pos + fmt.size > self.size:
            raise self.fail(f"{what} at byte {pos} lies outside the file ({self.size} bytes)")
        return fmt.unpack_from(self.data, pos)[0]

    def uoffset(self, pos: int, what: str) -> int:
        """Follow the uoffset stored at pos; return the absolute position it points to."""
        target = pos + int(self.read(_U32, pos, what))
        if target >= self.size:
            raise self.fail(f"{what} at byte {pos} points to byte {target}, past the end of the file ({self.size} bytes)")
        return target


class _Table:
    """A flatbuffer table: its position and the vtable slots it has."""

    __slots__ = ("buf", "pos", "vt", "vt_len", "what")

    def __init__(self, buf: _Buf, pos: int, what: str):
        self.buf, self.pos, self.what = buf, pos, what
        buf.spend(4, what)
        vt = pos - int(buf.read(_I32, pos, f"{what} vtable offset"))
        vt_len = int(buf.read(_U16, vt, f"{what} vtable"))
        if vt_len < 4 or vt_len % 2 or vt + vt_len > buf.size:
            raise buf.fail(f"{what} has a vtable of {vt_len} bytes at byte {vt}")
        table_len = int(buf.read(_U16, vt + 2, f"{what} vtable"))
        if pos + table_len > buf.size:
            raise buf.fail(f"{what} at byte {pos} is {table_len} bytes long, past the end of the file")
        buf.end = max(buf.end, pos + table_len, vt + vt_len)
        self.vt, self.vt_len = vt, vt_len

    def field(self, slot: int) -> int:
        """Absolute position of the field in `slot`, or 0 if absent."""
        off = 4 + 2 * slot
        if off + 2 > self.vt_len:
            return 0
        rel = int(self.buf.read(_U16, self.vt + off, f"{self.what} vtable"))
        return self.pos + rel if rel else 0

    def scalar(self, slot: int, fmt: struct.Struct, default: int | float = 0) -> int | float:
        pos = self.field(slot)
        return self.buf.read(fmt, pos, f"{self.what} field {slot}") if pos else default

    def table(self, slot: int, what: str) -> _Table | None:
        pos = self.field(slot)
        return _Table(self.buf, self.buf.uoffset(pos, what), what) if pos else None

    def string(self, slot: int, what: str) -> str | None:
        pos = self.field(slot)
        return _string_at(self.buf, self.buf.uoffset(pos, what), what) if pos else None

    def vector(self, slot: int, elem_size: int, what: str, *, capped: bool = True) -> tuple[int, int]:
        """(position of the first element, element count); (0, 0) if absent.

        `capped` vectors are iterated, so an absurd count is refused; byte data (weights) is
        never iterated and only has to fit in the file.
        """
        pos = self.field(slot)
        if not pos:
            return 0, 0
        start = self.buf.uoffset(pos, what)
        count = int(self.buf.read(_U32, start, f"{what} length"))
        if capped and count > MAX_ELEMENTS:
            raise self.buf.fail(f"{what} claims {count} elements (more than {MAX_ELEMENTS})")
        if start + 4 + count * elem_size > self.buf.size:
            raise self.buf.fail(f"{what} at byte {start} claims {count} elements, past the end of the file")
        self.buf.end = max(self.buf.end, start + 4 + count * elem_size)
        return start + 4, count

    def scalars(self, slot: int, fmt: struct.Struct, what: str) -> tuple[int | float, ...]:
        start, count = self.vector(slot, fmt.size, what)
        if not count:
            return ()
        self.buf.spend(count * fmt.size, what)
        return tuple(v[0] for v in fmt.iter_unpack(self.buf.data[start : start + count * fmt.size]))

    def tables(self, slot: int, what: str) -> list[_Table]:
        start, count = self.vector(slot, 4, what)
        return [_Table(self.buf, self.buf.uoffset(start + 4 * i, f"{what}[{i}]"), f"{what}[{i}]") for i in range(count)]


def _string_at(buf: _Buf, pos: int, what: str) -> str:
    length = int(buf.read(_U32, pos, f"{what} length"))
    if pos + 4 + length > buf.size:
        raise buf.fail(f"{what} at byte {pos} claims {length} bytes, past the end of the file")
    buf.spend(length, what)
    buf.end = max(buf.end, pos + 4 + length + 1)  # and its NUL
    return bytes(buf.data[pos + 4 : pos + 4 + length]).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# What the reader returns: named tuples (immutable, and ~0.7 ms cheaper each to define than a dataclass, at every
# start of inspect and rename), indices as stored in the file. The *_field positions say where to patch a value.


class Quantization(NamedTuple):
    scale: tuple[float, ...]  # empty for blockwise quantization (its scales live in another tensor)
    zero_point: tuple[int, ...]
    quantized_dimension: int = 0
    details_type: int = 0  # QuantizationDetails union: 0 none, 1 custom, 2 blockwise
    block_size: int = 0  # blockwise only


class Tensor(NamedTuple):
    name: str
    type: int
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None
    buffer: int
    quantization: Quantization | None
    is_variable: bool = False
    name_field: int = 0  # where the name's uoffset lives

    @property
    def dims(self) -> tuple[int, ...]:
        """The shape with dynamic dims as -1 (shape_signature where present)."""
        return self.shape_signature if self.shape_signature is not None else self.shape


class Operator(NamedTuple):
    opcode_index: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    large_custom_options_offset: int = 0  # > 1: custom options at this file offset (models over 2 GB)
    large_custom_options_field: int = 0  # where that offset lives
    subgraph_refs: tuple[int, ...] = ()  # subgraphs an IF, WHILE or CALL_ONCE runs (from its options)


class OperatorCode(NamedTuple):
    builtin_code: int  # effective code: max(deprecated_builtin_code, builtin_code field), as LiteRT's GetBuiltinCode
    custom_code: str | None
    version: int  # the op's version; the runtime must have a kernel registered for (op, version)
    deprecated_builtin_code: int = 0  # the int8 field that schema v3 files carry (127 = "look at builtin_code")


class SubGraph(NamedTuple):
    name: str
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: tuple[Operator, ...]


class Buffer(NamedTuple):
    """Where a buffer's bytes are: inside the flatbuffer (data_pos) or after it (offset)."""

    data_pos: int
    data_size: int
    offset: int = 0  # > 1: bytes live at this file offset (models over 2 GB)
    size: int = 0
    offset_field: int = 0  # where that offset lives

    @property
    def nbytes(self) -> int:
        return self.size if self.offset > 1 else self.data_size


class TensorMap(NamedTuple):
    name: str
    tensor_index: int
    name_field: int = 0


class SignatureDef(NamedTuple):
    key: str
    subgraph_index: int
    inputs: tuple[TensorMap, ...]
    outputs: tuple[TensorMap, ...]
    key_field: int = 0


class Metadata(NamedTuple):
    name: str
    buffer: int


class Model(NamedTuple):
    """The structure of a .tflite file (no weight bytes)."""

    size: int
    version: int
    description: str | None
    operator_codes: tuple[OperatorCode, ...]
    subgraphs: tuple[SubGraph, ...]
    buffers: tuple[Buffer, ...]
    metadata: tuple[Metadata, ...]
    signatures: tuple[SignatureDef, ...]
    root: int = 0  # position of the Model table
    extent: int = 0  # where the last table, vector, string or buffer read ends


# ---------------------------------------------------------------------------------------------


def read_model(model: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Model:
    """Read the structure of a .tflite model from a path (memory-mapped) or bytes.

    Raises:
        NotATFLiteModel: the input is not a TFLite flatbuffer, or it is corrupt.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        return parse(memoryview(model).cast("B") if isinstance(model, memoryview) else model)
    path = Path(model)
    return _mapped(path, str(path), parse)


def _mapped(path: Path, shown: str, use: Callable[[Any], T]) -> T:
    """`use` applied to the file memory-mapped (b"" when it is empty); errors become NotATFLiteModel starting with `shown`."""
    try:
        f = open_regular(path, NotATFLiteModel, what=".tflite file")  # refuses FIFOs and devices before reading
    except OSError as e:
        raise unreadable(path, e, NotATFLiteModel) from None
    try:
        with f:
            if os.fstat(f.fileno()).st_size == 0:
                return use(b"")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return use(mm)
    except NotATFLiteModel as e:
        raise NotATFLiteModel(f"{shown}: {e}") from None
    except OSError as e:
        raise unreadable(path, e, NotATFLiteModel) from None


def load(model: str | os.PathLike[str] | bytes | bytearray | memoryview, name: str | None = None) -> tuple[bytes, Model]:
    """The bytes LiteRT needs and the checked structure of a model, reading no more of a file than it can hold.

    A file is mapped and parsed first, so only its structure is touched; then it is read whole only
    if what lies after the model's last byte (associated files, as MediaPipe appends a zip) is within
    LITESIG_MAX_ASSOCIATED_MB. A 17 KB model padded to 10 GB is refused, not read into memory.

    Raises:
        NotATFLiteModel: the input is not a model, is corrupt, or carries an oversized tail; the
            message starts with `name` (the path, or '<N bytes>').
    """
    shown = name or (os.fspath(model) if not isinstance(model, (bytes, bytearray, memoryview)) else f"<{len(model)} bytes>")
    if isinstance(model, (bytes, bytearray, memoryview)):
        content = bytes(model)
        try:
            return content, parse(content)
        except NotATFLiteModel as e:
            raise NotATFLiteModel(f"{shown}: {e}") from None
    def checked(data: Any) -> tuple[bytes, Model]:
        parsed = parse(data)  # touches only the structure of a mapped file
        why = tail_problem(parsed)
        if why:
            raise NotATFLiteModel(why)
        return bytes(data), parsed  # read whole only now

    return _mapped(Path(model), shown, checked)


def tail_problem(model: Model) -> str | None:
    """Why the bytes after the model's last one are too many to read (None if they are not)."""
    from .._limits import max_associated_bytes, mib

    tail, limit = model.size - model.extent, max_associated_bytes()
    if tail <= limit:
        return None
    return (f"{model.size:,} bytes, but the model ends near byte {model.extent:,}: the {mib(tail)} after it are more than "
            f"the {mib(limit)} of associated files litesig reads (raise LITESIG_MAX_ASSOCIATED_MB if they are real)")


def metadata_bytes(model: Model, data: str | os.PathLike[str] | bytes | bytearray | memoryview, name: str,
                   *, max_size: int) -> bytes | None:
    """The bytes of metadata entry `name` (from the file or its bytes); None if absent, empty or over `max_size`."""
    entry = next((md for md in model.metadata if md.name == name), None)
    if entry is None:
        return None
    buf = model.buffers[entry.buffer]
    if buf.nbytes == 0 or buf.nbytes > max_size:
        return None
    start = buf.offset if buf.offset > 1 else buf.data_pos
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[start : start + buf.nbytes])
    with open(data, "rb") as f:
        f.seek(start)
        return f.read(buf.nbytes)


def parse(data: bytes | bytearray | mmap.mmap | memoryview) -> Model:
    """Parse a whole .tflite flatbuffer held in memory (or memory-mapped)."""
    buf = _Buf(data)
    if buf.size < 8:
        raise NotATFLiteModel(f"not a TFLite model: {buf.size} bytes is too short for a flatbuffer")
    ident = bytes(data[4:8])
    if ident != FILE_IDENTIFIER:
        raise NotATFLiteModel(f"not a TFLite model: file identifier is {ident!r}, expected {FILE_IDENTIFIER!r}")
    root = buf.uoffset(0, "root table offset")
    m = _Table(buf, root, "model")

    buffers = tuple(_buffer(t, buf) for t in m.tables(4, "buffers"))
    opcodes = tuple(
        OperatorCode(
            builtin_code=max(int(t.scalar(0, _U8)), int(t.scalar(3, _I32))),
            custom_code=t.string(1, f"{t.what}.custom_code"),
            version=int(t.scalar(2, _I32, 1)),
            deprecated_builtin_code=int(t.scalar(0, _U8)),
        )
        for t in m.tables(1, "operator_codes")
    )
    subgraphs = tuple(_subgraph(t, len(buffers), len(opcodes)) for t in m.tables(2, "subgraphs"))
    metadata = tuple(
        Metadata(name=t.string(0, f"{t.what}.name") or "", buffer=int(t.scalar(1, _U32)))
        for t in m.tables(6, "metadata")
    )
    for i, md in enumerate(metadata):
        if md.buffer >= len(buffers):
            raise buf.fail(f"metadata {i} ({md.name!r}) points at buffer {md.buffer}, the file has {len(buffers)}")
    signatures = tuple(_signature(t, subgraphs) for t in m.tables(7, "signature_defs"))
    return Model(
        size=buf.size,
        version=int(m.scalar(0, _U32)),
        description=m.string(3, "model.description"),
        operator_codes=opcodes,
        subgraphs=subgraphs,
        buffers=buffers,
        metadata=metadata,
        signatures=signatures,
        root=root,
        extent=min(buf.end, buf.size),
    )


def _buffer(t: _Table, buf: _Buf) -> Buffer:
    start, count = t.vector(0, 1, f"{t.what}.data", capped=False)
    offset, size = int(t.scalar(1, _U64)), int(t.scalar(2, _U64))
    if offset > 1 and offset + size > buf.size:
        raise buf.fail(f"{t.what} holds {size} bytes at file offset {offset}, past the end of the file ({buf.size} bytes)")
    if offset > 1:
        buf.end = max(buf.end, offset + size)
    return Buffer(data_pos=start, data_size=count, offset=offset, size=size, offset_field=t.field(1))


def _indices(t: _Table, slot: int, what: str, bound: int, allow_optional: bool = False) -> tuple[int, ...]:
    values = tuple(int(v) for v in t.scalars(slot, _I32, what))
    for i, v in enumerate(values):
        if v >= bound or v < (-1 if allow_optional else 0):
            raise t.buf.fail(f"{what}[{i}] is tensor {v}, the subgraph has {bound}")
    return values


# BuiltinOptions union members whose first fields are subgraph indices: IfOptions (then, else),
# WhileOptions (cond, body), CallOnceOptions (init).
_SUBGRAPH_OPTIONS = {92: 2, 93: 2, 103: 1}


def _subgraph_refs(op: _Table) -> tuple[int, ...]:
    count = _SUBGRAPH_OPTIONS.get(int(op.scalar(3, _U8)))
    if not count:
        return ()
    options = op.table(4, f"{op.what}.builtin_options")
    return tuple(int(options.scalar(i, _I32)) for i in range(count)) if options is not None else ()


def _subgraph(t: _Table, n_buffers: int, n_opcodes: int) -> SubGraph:
    tensors = tuple(_tensor(tt, n_buffers) for tt in t.tables(0, f"{t.what}.tensors"))
    n = len(tensors)
    operators = []
    for ot in t.tables(3, f"{t.what}.operators"):
        opcode = int(ot.scalar(0, _U32))
        if opcode >= n_opcodes:
            raise t.buf.fail(f"{ot.what} uses operator code {opcode}, the file has {n_opcodes}")
        custom_offset, custom_size = int(ot.scalar(9, _U64)), int(ot.scalar(10, _U64))
        if custom_offset > 1 and custom_offset + custom_size > t.buf.size:
            raise t.buf.fail(f"{ot.what} holds {custom_size} bytes of custom options at file offset {custom_offset}, "
                             f"past the end of the file ({t.buf.size} bytes)")
        if custom_offset > 1:
            t.buf.end = max(t.buf.end, custom_offset + custom_size)
        ot.vector(5, 1, f"{ot.what}.custom_options", capped=False)  # not kept; visited so the model's extent counts it
        operators.append(
            Operator(
                opcode_index=opcode,
                inputs=_indices(ot, 1, f"{ot.what}.inputs", n, allow_optional=True),
                outputs=_indices(ot, 2, f"{ot.what}.outputs", n, allow_optional=True),
                large_custom_options_offset=custom_offset,
                large_custom_options_field=ot.field(9),
                subgraph_refs=_subgraph_refs(ot),
            )
        )
    return SubGraph(
        name=t.string(4, f"{t.what}.name") or "",
        tensors=tensors,
        inputs=_indices(t, 1, f"{t.what}.inputs", n),
        outputs=_indices(t, 2, f"{t.what}.outputs", n),
        operators=tuple(operators),
    )


def _tensor(t: _Table, n_buffers: int) -> Tensor:
    buffer = int(t.scalar(2, _U32))
    if buffer >= n_buffers:
        raise t.buf.fail(f"{t.what} points at buffer {buffer}, the file has {n_buffers}")
    q = t.table(4, f"{t.what}.quantization")
    quantization = None
    if q is not None:
        scale = tuple(float(s) for s in q.scalars(2, _F32, f"{q.what}.scale"))
        details_type = int(q.scalar(4, _U8))
        block = q.table(5, f"{q.what}.details") if details_type == 2 else None  # BlockwiseQuantization
        if scale or block is not None:
            quantization = Quantization(
                scale=scale,
                zero_point=tuple(int(z) for z in q.scalars(3, _I64, f"{q.what}.zero_point")),
                quantized_dimension=int(q.scalar(6, _I32)),
                details_type=details_type,
                block_size=int(block.scalar(2, _I32)) if block is not None else 0,
            )
    has_signature = t.field(7) != 0
    return Tensor(
        name=t.string(3, f"{t.what}.name") or "",
        type=int(t.scalar(1, _U8)),
        shape=tuple(int(d) for d in t.scalars(0, _I32, f"{t.what}.shape")),
        shape_signature=tuple(int(d) for d in t.scalars(7, _I32, f"{t.what}.shape_signature")) if has_signature else None,
        buffer=buffer,
        quantization=quantization,
        is_variable=bool(t.scalar(5, _U8)),
        name_field=t.field(3),
    )


def _tensor_maps(t: _Table, slot: int, what: str, n_tensors: int) -> tuple[TensorMap, ...]:
    maps = []
    for mt in t.tables(slot, what):
        index = int(mt.scalar(1, _U32))
        if index >= n_tensors:
            raise t.buf.fail(f"{mt.what} points at tensor {index}, its subgraph has {n_tensors}")
        maps.append(TensorMap(name=mt.string(0, f"{mt.what}.name") or "", tensor_index=index, name_field=mt.field(0)))
    return tuple(maps)


def _signature(t: _Table, subgraphs: tuple[SubGraph, ...]) -> SignatureDef:
    index = int(t.scalar(4, _U32))
    if index >= len(subgraphs):
        raise t.buf.fail(f"{t.what} points at subgraph {index}, the file has {len(subgraphs)}")
    n = len(subgraphs[index].tensors)
    return SignatureDef(
        key=t.string(2, f"{t.what}.signature_key") or "",
        subgraph_index=index,
        inputs=_tensor_maps(t, 0, f"{t.what}.inputs", n),
        outputs=_tensor_maps(t, 1, f"{t.what}.outputs", n),
        key_field=t.field(2),
    )
