"""Merging several .tflite files into one file that has every signature of each.

The merged file is a new flatbuffer (ai-edge-litert's object API and a flatbuffers Builder): each
input's subgraphs are copied whole and its signatures point at them; operator codes are shared;
identical weight buffers (same bytes) are stored once; every buffer is 16-byte aligned; the
metadata and the associated files (the zip the TFLite Support metadata writer appends) come from
one input. Before anything is written, every signature is run on the merged bytes and on its
source with the same inputs, and must give bit-identical outputs.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
import os
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import flatbuffer as fb
from .validate import problems_of
from .._names import generic_io_name, name_problem
from ..errors import InvalidInput, LitesigError, Problem

BUFFER_ALIGN = 16
_MIN_RUNTIME = "min_runtime_version"


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of the merged file run against its source on the same inputs."""

    signature: str
    source: str
    source_signature: str | None  # None: the main subgraph of a file without signatures
    sizes: list[str]  # the dynamic-dim sizes run, e.g. ["batch 1, other dims 1", ...]
    identical: bool
    detail: str = ""


@dataclass(frozen=True)
class MergeResult:
    """What `merge` wrote and measured."""

    path: Path
    size_bytes: int
    inputs_bytes: int  # the input files' sizes, summed
    shared_buffers: int  # weight buffers found in more than one place and stored once
    bytes_saved: int  # their bytes not stored again
    signatures: dict[str, dict[str, Any]]  # name -> {"source", "inputs", "outputs"}
    checks: list[SignatureCheck] = field(default_factory=list)
    metadata_from: str = ""
    associated_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass
class _Input:
    path: Path
    label: str
    content: bytes
    parsed: fb.Model
    obj: Any  # schema ModelT


@dataclass
class Merged:
    """A merged file before it is written: its bytes and what they came from."""

    content: bytes
    inputs: list[_Input]
    plan: list[_Planned]
    metadata_from: int
    shared_buffers: int
    bytes_saved: int
    associated_files: list[str]

    def result(self, path: Path, checks: list[SignatureCheck]) -> MergeResult:
        """What `merge` reports once the bytes are written to `path`."""
        merged = fb.read_model(self.content)
        by_key = {p[3]: p for p in self.plan}
        signatures = {}
        for s in merged.signatures:
            src = by_key[s.key]
            signatures[s.key] = {"source": str(self.inputs[src[0]].path), "source_signature": src[1],
                                 "inputs": [t.name for t in s.inputs], "outputs": [t.name for t in s.outputs]}
        return MergeResult(
            path=path,
            size_bytes=len(self.content),
            inputs_bytes=sum(len(i.content) for i in self.inputs),
            shared_buffers=self.shared_buffers,
            bytes_saved=self.bytes_saved,
            signatures=signatures,
            checks=checks,
            metadata_from=str(self.inputs[self.metadata_from].path),
            associated_files=self.associated_files,
        )


def build(
    models: Sequence[str | os.PathLike[str]],
    *,
    renames: Mapping[tuple[str, str | None], str] | None = None,
    metadata_from: int = 0,
) -> Merged:
    """The merged file's bytes: every signature of each input, weights stored once (see `verification.merged.merge`).

    Raises:
        InvalidInput: unreadable inputs, unknown or clashing names (every problem listed).
    """
    problems: list[Problem] = []
    if len(models) < 2:
        problems.append(Problem("models", f"give two or more .tflite files to merge, got {len(models)}"))
    if not 0 <= metadata_from < max(len(models), 1):
        problems.append(Problem("--metadata-from", f"expected 1..{len(models)}, got {metadata_from + 1}"))
    if problems:
        raise InvalidInput("merge", problems)
    inputs = [_load(Path(m)) for m in models]
    _label(inputs)
    plan = _signature_names(inputs, dict(renames or {}))
    content, stats = _build(inputs, plan, metadata_from)
    zip_bytes, names = _associated_zip(inputs[metadata_from])
    if zip_bytes:
        content += b"\0" * (-len(content) % BUFFER_ALIGN) + zip_bytes
    return Merged(content, inputs, plan, metadata_from, stats["shared"], stats["saved"], names)


# ---------------------------------------------------------------------------------------------
# Reading and naming


def _load(path: Path) -> _Input:
    from ai_edge_litert import schema_py_generated as schema

    try:  # bounds-checked before the unchecked object API sees it; a padded file is refused, not read
        content, parsed = fb.load(path)
    except LitesigError as e:
        raise InvalidInput(str(path), [Problem("", str(e).removeprefix(f"{path}: "))]) from None
    problems = []
    if any(op.large_custom_options_offset > 1 for sg in parsed.subgraphs for op in sg.operators):
        problems.append(Problem("", "custom options stored outside the flatbuffer (models over 2 GB) are not supported by merge"))
    if not parsed.subgraphs:
        problems.append(Problem("", "the model has no subgraph"))
    problems += [Problem("", p) for p in problems_of(parsed)]  # what run and verify refuse, merge refuses too
    if problems:
        raise InvalidInput(str(path), problems)
    try:  # the object API reads every field, some the bounds-checked reader never visits (operator options)
        obj = schema.ModelT.InitFromPackedBuf(content, 0)
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, OverflowError, RecursionError, UnicodeDecodeError) as e:
        raise InvalidInput(str(path), [Problem("", f"corrupt: a field outside the signatures, tensors and buffers cannot be "
                                                   f"read ({type(e).__name__}: {str(e)[:120]})")]) from None
    for b, info in zip(obj.buffers or [], parsed.buffers):
        if info.offset > 1:  # kept after the flatbuffer: bring the bytes in
            b.data, b.offset, b.size = content[info.offset : info.offset + info.size], 0, 0
    return _Input(path, path.stem, content, parsed, obj)


def _label(inputs: list[_Input]) -> None:
    stems = Counter(i.label for i in inputs)
    for i in inputs:
        if stems[i.label] > 1:
            i.label = str(i.path)


def _find_input(inputs: Sequence[_Input], ref: str) -> int | None:
    for k, i in enumerate(inputs):
        if ref in (i.label, str(i.path), i.path.name):
            return k
    if ref.isdigit() and 1 <= int(ref) <= len(inputs):
        return int(ref) - 1
    return None


# (input index, source signature or None, (inputs, outputs) as (name, tensor) pairs or None, merged name)
_Planned = tuple[int, str | None, Any, str]


def _signature_names(inputs: Sequence[_Input], renames: dict[tuple[str, str | None], str]) -> list[_Planned]:
    problems: list[Problem] = []
    wanted: dict[tuple[int, str | None], str] = {}
    for (ref, old), new in renames.items():
        flag = f"--signature {ref}:{old}={new}" if old is not None else f"--signature {ref}={new}"
        k = _find_input(inputs, ref)
        if k is None:
            problems.append(Problem(flag, f"no input {ref!r}; the inputs are: {', '.join(i.label for i in inputs)} (or 1..{len(inputs)})"))
            continue
        keys = [s.key for s in inputs[k].parsed.signatures]
        if old is None and keys:
            problems.append(Problem(flag, f"{inputs[k].label} has signatures ({', '.join(keys)}): rename one with {ref}:OLD=NEW"))
            continue
        if old is not None and old not in keys:
            problems.append(Problem(flag, f"{inputs[k].label} has no signature {old!r}; it has: {', '.join(keys) or 'none'}"))
            continue
        why = name_problem(new)
        if why:
            problems.append(Problem(flag, why))
        wanted[(k, old)] = new
    plan: list[_Planned] = []
    for k, i in enumerate(inputs):
        if i.parsed.signatures:
            plan += [(k, s.key, None, wanted.get((k, s.key), s.key)) for s in i.parsed.signatures]
        elif (k, None) in wanted:
            sg = i.parsed.subgraphs[0]
            taken: set[str] = set()
            ios = (tuple((generic_io_name(sg.tensors[t].name, taken), t) for t in sg.inputs),
                   tuple((generic_io_name(sg.tensors[t].name, taken), t) for t in sg.outputs))
            plan.append((k, None, ios, wanted[(k, None)]))
        else:
            problems.append(Problem(i.label, f"{i.path} has no signatures: name its main subgraph with --signature {i.label}=NAME"))
    owners_of: dict[str, list[str]] = {}  # grouped in one pass: files may hold 100,000 signatures
    for p in plan:
        owners_of.setdefault(p[3], []).append(f"{inputs[p[0]].label}:{p[1] or '(main subgraph)'}")
    for name, owners in sorted(owners_of.items()):
        if len(owners) > 1:
            problems.append(Problem("--signature", f"two signatures would be called {name!r} ({', '.join(owners)}); "
                                    f"rename one, e.g. --signature {owners[1].replace('(main subgraph)', '')}=other_name".replace(":=", "=")))
    shared: dict[str, str] = {}
    for i in inputs:
        for sg in i.obj.subgraphs or []:
            for op in sg.operators or []:
                opts = op.builtinOptions
                var = getattr(opts, "sharedName", None)
                if var is None:
                    continue
                key = f"{_text(getattr(opts, 'container', None))}/{_text(var)}"
                if shared.setdefault(key, i.label) != i.label:
                    problems.append(Problem(i.label, f"resource variable {_text(var)!r} also exists in {shared[key]}: the merged "
                                            "signatures would share its state"))
    if problems:
        raise InvalidInput("merge", problems)
    return plan


# ---------------------------------------------------------------------------------------------
# Building the merged flatbuffer


class _Prepacked:
    """Stands in for a BufferT whose table is already in the builder (so its data could be aligned)."""

    def __init__(self, offset: int):
        self.offset = offset

    def Pack(self, builder: Any) -> int:  # noqa: N802 - the object API's method name
        return self.offset


def _aligned_bytes(builder: Any, data: bytes) -> int:
    builder.StartVector(1, len(data), BUFFER_ALIGN)
    builder.head = builder.head - len(data)
    builder.Bytes[builder.head : builder.head + len(data)] = data
    return int(builder.EndVector())


def _remap_subgraph_refs(options: Any, base: int) -> None:
    if options is None or not base:
        return
    for attr, value in vars(options).items():
        if attr == "subgraph" or attr.endswith("SubgraphIndex"):
            setattr(options, attr, value + base)
        elif attr.endswith("SubgraphIndices") and value is not None:
            setattr(options, attr, [v + base for v in value])


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


def _build(inputs: Sequence[_Input], plan: Sequence[_Planned], metadata_from: int) -> tuple[bytes, dict[str, int]]:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    merged = schema.ModelT()
    chosen = inputs[metadata_from].obj
    merged.version = chosen.version or 3
    merged.description = chosen.description
    merged.operatorCodes, merged.subgraphs, merged.signatureDefs, merged.metadata = [], [], [], []
    datas: list[bytes] = [b""]
    by_hash: dict[tuple[bytes, int], int] = {}
    opcode_index: dict[tuple[Any, ...], int] = {}
    stats = {"shared": 0, "saved": 0}
    table_base = 0
    runtimes: list[str] = []
    for k, i in enumerate(inputs):
        op_map = []
        for oc in i.obj.operatorCodes or []:
            key = (oc.deprecatedBuiltinCode, oc.builtinCode, oc.customCode, oc.version)
            if key not in opcode_index:
                opcode_index[key] = len(merged.operatorCodes)
                merged.operatorCodes.append(oc)
            op_map.append(opcode_index[key])
        buf_map = []
        for b in i.obj.buffers or []:
            data = bytes(b.data) if b.data is not None else b""
            if not data:
                buf_map.append(0)
                continue
            h = (hashlib.sha256(data).digest(), len(data))
            if h in by_hash and datas[by_hash[h]] == data:
                stats["shared"] += 1
                stats["saved"] += len(data)
            else:
                by_hash[h] = len(datas)
                datas.append(data)
            buf_map.append(by_hash[h])
        sg_base = len(merged.subgraphs)
        max_table = -1
        for sg in i.obj.subgraphs or []:
            for t in sg.tensors or []:
                t.buffer = buf_map[t.buffer]
            for op in sg.operators or []:
                op.opcodeIndex = op_map[op.opcodeIndex]
                _remap_subgraph_refs(op.builtinOptions, sg_base)
                _remap_subgraph_refs(op.builtinOptions2, sg_base)
                if hasattr(op.builtinOptions, "tableId"):  # hash tables are keyed by id across the whole file
                    max_table = max(max_table, op.builtinOptions.tableId)
                    op.builtinOptions.tableId += table_base
            merged.subgraphs.append(sg)
        table_base += max_table + 1
        by_key = {_text(s.signatureKey): s for s in reversed(i.obj.signatureDefs or [])}  # linear in signatures; first of a key wins
        for entry in plan:
            if entry[0] != k:
                continue
            if entry[1] is not None:
                sd = by_key[entry[1]]
            else:
                sd = schema.SignatureDefT()
                sd.inputs = [_tensor_map(schema, n, t) for n, t in entry[2][0]]
                sd.outputs = [_tensor_map(schema, n, t) for n, t in entry[2][1]]
                sd.subgraphIndex = 0
            sd.subgraphIndex += sg_base
            sd.signatureKey = entry[3]
            merged.signatureDefs.append(sd)
        for md in i.obj.metadata or []:
            name = _text(md.name)
            if name == _MIN_RUNTIME:
                runtimes.append(datas[buf_map[md.buffer]].rstrip(b"\0").decode("ascii", errors="replace"))
            if k == metadata_from:
                md.buffer = buf_map[md.buffer]
                merged.metadata.append(md)
        if k == metadata_from and i.obj.metadataBuffer is not None:
            merged.metadataBuffer = [buf_map[b] for b in i.obj.metadataBuffer]
    if runtimes:  # the merged file needs the newest runtime any input needed
        newest = max(runtimes, key=_version).encode("ascii")
        entry_md = next((md for md in merged.metadata if _text(md.name) == _MIN_RUNTIME), None)
        if entry_md is None:
            entry_md = schema.MetadataT()
            entry_md.name = _MIN_RUNTIME
            merged.metadata.append(entry_md)
        entry_md.buffer = len(datas)
        datas.append(newest + b"\0" * (16 - len(newest) % 16))
    builder = flatbuffers.Builder(sum(len(d) for d in datas) + 1024 * 1024)
    packed = []
    for data in datas:
        vec = _aligned_bytes(builder, data) if data else None
        schema.BufferStart(builder)
        if vec is not None:
            schema.BufferAddData(builder, vec)
        packed.append(_Prepacked(schema.BufferEnd(builder)))
    merged.buffers = packed
    builder.Finish(merged.Pack(builder), file_identifier=fb.FILE_IDENTIFIER)
    return bytes(builder.Output()), stats


def _text(value: str | bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else (value or "")


def _tensor_map(schema: Any, name: str, index: int) -> Any:
    tm = schema.TensorMapT()
    tm.name, tm.tensorIndex = name, index
    return tm


# ---------------------------------------------------------------------------------------------
# Associated files


def associated_zip(content: bytes, parsed: fb.Model, source: str = "model") -> tuple[bytes, list[str]]:
    """The zip appended after the flatbuffer (TFLite Support's associated files) and its names; (b"", []) if none.

    The zip is carried over as its bytes, never rewritten. Its members are checked (CRC) by streaming
    them in 1 MiB pieces, after their declared sizes are checked against LITESIG_MAX_ASSOCIATED_MB:
    a 3 MB zip that inflates to gigabytes is refused by its directory, before a byte is inflated.
    """
    import io

    from .._limits import max_associated_bytes, mib

    flat_end = max((b.data_pos + b.data_size for b in parsed.buffers), default=0)
    limit = max_associated_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            infos = zf.infolist()
            if not infos:
                return b"", []
            start = min(info.header_offset for info in infos)
            if start < flat_end:
                return b"", []  # a stray end record inside the weights, not an appended zip
            declared = sum(info.file_size for info in infos)
            if declared > limit:
                largest = max(infos, key=lambda info: info.file_size)
                raise InvalidInput(source, [Problem("associated files", f"{len(infos)} files declare {mib(declared)} inflated "
                                                    f"({largest.filename[:100]!r}: {mib(largest.file_size)}), more than "
                                                    f"{mib(limit)} (raise it with LITESIG_MAX_ASSOCIATED_MB)")])
            for info in infos:  # CRC-checked: a zip that does not read back is not carried over
                with zf.open(info) as member:
                    while member.read(2**20):
                        pass
            return content[start:], [info.filename for info in infos]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, zlib.error):
        return b"", []


def _associated_zip(i: _Input) -> tuple[bytes, list[str]]:
    return associated_zip(i.content, i.parsed, str(i.path))


# ---------------------------------------------------------------------------------------------
# Checking every signature against its source


def load_merge_map(path: str | os.PathLike[str]) -> dict[tuple[str, str | None], str]:
    """Read a merge names file:

        [models.detector]                  # an input's file stem (or 1-based position)
        signatures = { serving_default = "detect" }
        [models.legacy]                    # a file without signatures
        main = "classify"
    """
    from .._toml import read_toml

    p = Path(path)
    data = read_toml(p)
    problems: list[Problem] = []
    out: dict[tuple[str, str | None], str] = {}
    for key in data:
        if key != "models":
            problems.append(Problem(key, "unknown key; expected [models.<input>] tables"))
    for ref, body in (data.get("models") or {}).items():
        where = f"models.{ref}"
        if not isinstance(body, Mapping):
            problems.append(Problem(where, "expected a table with signatures and/or main"))
            continue
        for key, value in body.items():
            if key == "main" and isinstance(value, str):
                out[(ref, None)] = value
            elif key == "signatures" and isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
                out.update({(ref, old): new for old, new in value.items()})
            else:
                problems.append(Problem(f"{where}.{key}", "expected main = \"name\" or signatures = { old = \"new\" }"))
    if problems:
        raise InvalidInput(str(p), problems)
    return out
