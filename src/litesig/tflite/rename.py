"""Renaming signatures, inputs and outputs in an existing .tflite without reconverting or repacking.

Every byte of the original stays where it was, weights included. Each new name is written as a
new flatbuffer string after the flatbuffer, and only the 4-byte offset field that pointed at the
old name is patched (flatbuffer offsets point forward, so any field can reach the end of the
file). Files that keep weights outside the flatbuffer (buffer offsets, > 2 GB style) get the new
strings between the flatbuffer and that data, and their absolute offsets are shifted to match.
So renaming costs about a file copy, whatever the model's size.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from . import flatbuffer as fb
from ._patch import absolute_offsets, check_written, copy_range, reserve
from .validate import validate
from .._io import check_writable, write_atomic
from .._names import generic_io_name, name_problem
from ..errors import InvalidInput, LitesigError, Problem, did_you_mean, listing

_ALIGN_EXTERNAL = 64  # keep weights stored outside the flatbuffer as aligned as the converter left them


class RenamePlan(NamedTuple):
    """What to rename. Keys of `inputs`/`outputs` are (signature, old name); the signature may be its old or new name."""

    signatures: Mapping[str, str] = MappingProxyType({})
    inputs: Mapping[tuple[str | None, str], str] = MappingProxyType({})
    outputs: Mapping[tuple[str | None, str], str] = MappingProxyType({})
    tensor_names: bool = False  # also rename the tensors behind inputs/outputs to "<signature>_<name>:0"


class RenameResult(NamedTuple):
    path: Path
    size_bytes: int
    changes: list[str]  # "signature serving_default -> classify", ...
    signatures: dict[str, dict[str, list[str]]]  # after: name -> {"inputs": [...], "outputs": [...]}


def rename(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    signatures: Mapping[str, str] | None = None,
    inputs: Mapping[tuple[str | None, str], str] | None = None,
    outputs: Mapping[tuple[str | None, str], str] | None = None,
    tensor_names: bool = False,
    in_place: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RenameResult:
    """Rename signature keys, input names and output names of a .tflite file.

    Args:
        model: the .tflite to read.
        output: where to write; None with `in_place=True` replaces `model` atomically.
        signatures: {old key: new key}.
        inputs / outputs: {(signature, old name): new name}; signature may be the old or new key,
            or None when the file has one signature.
        tensor_names: also rename the tensors behind the renamed inputs/outputs.
        progress: called with a step's description as it starts (the copy, which runs in the kernel).

    Raises:
        InvalidInput: unknown names, duplicates, invalid names (every problem listed); nothing written.
        NotATFLiteModel: the file is not a valid model.
    """
    source = Path(model)
    target = _target(source, output, in_place=in_place, force=force)
    plan = RenamePlan(dict(signatures or {}), dict(inputs or {}), dict(outputs or {}), tensor_names)
    parsed = fb.read_model(source)
    validate(parsed, str(source))  # a file run would refuse is not renamed into one that looks fine
    patches, changes, after = _patches(parsed, plan, str(source))
    size = _write(source, target, parsed, patches, after, replace=in_place or force, progress=progress)
    return RenameResult(target, size, changes + _in_place_note(source, in_place), after)


def _patches(m: fb.Model, plan: RenamePlan, source: str) -> tuple[dict[int, str], list[str], dict[str, dict[str, list[str]]]]:
    """Offset-field positions to point at new strings, the changes in words, and the resulting names."""
    problems: list[Problem] = []
    by_key = {s.key: s for s in m.signatures}
    new_key = {s.key: plan.signatures.get(s.key, s.key) for s in m.signatures}
    old_of = {new: old for old, new in new_key.items()}

    for old, new in plan.signatures.items():
        if old not in by_key:
            problems.append(Problem(f"--signature {old}={new}", f"no signature {old!r}; the model has: {listing(by_key) or 'none'}"
                                                                f"{did_you_mean(old, by_key)}"))
        why = name_problem(new)
        if why:
            problems.append(Problem(f"--signature {old}={new}", why))
    for renamed, count in Counter(new_key.values()).items():  # linear: files may hold 100,000 signatures
        if count > 1:
            problems.append(Problem("--signature", f"two signatures would both be called {renamed!r}"))

    patches: dict[int, str] = {}
    changes = [f"signature {old} -> {new}" for old, new in plan.signatures.items() if old in by_key and old != new]
    for s in m.signatures:
        if s.key in plan.signatures and s.key != plan.signatures[s.key]:
            patches[s.key_field] = plan.signatures[s.key]

    tensor_renames: dict[tuple[int, int], str] = {}
    after: dict[str, dict[str, list[str]]] = {}
    for kind, requested in (("input", plan.inputs), ("output", plan.outputs)):
        per_sig: dict[str, dict[str, str]] = {}
        for (sig, old), new in requested.items():
            flag = f"--{kind} {sig + ':' if sig else ''}{old}={new}"
            if sig is None:
                if len(by_key) != 1:
                    problems.append(Problem(flag, f"say which signature (SIG:{old}={new}); the model has: {listing(by_key) or 'none'}"))
                    continue
                sig = next(iter(by_key))
            key: str | None = sig if sig in by_key else old_of.get(sig)
            if key is None or key not in by_key:
                problems.append(Problem(flag, f"no signature {sig!r}; the model has: {listing(by_key) or 'none'}{did_you_mean(sig, by_key)}"))
                continue
            maps = by_key[key].inputs if kind == "input" else by_key[key].outputs
            names = [tm.name for tm in maps]
            if old not in names:
                problems.append(Problem(flag, f"signature {key!r} has no {kind} {old!r}; its {kind}s are: {listing(names)}"
                                              f"{did_you_mean(old, names)}"))
                continue
            why = name_problem(new)
            if why:
                problems.append(Problem(flag, why))
            per_sig.setdefault(key, {})[old] = new
        for s in m.signatures:
            maps = s.inputs if kind == "input" else s.outputs
            mapping = per_sig.get(s.key, {})
            final = [mapping.get(tm.name, tm.name) for tm in maps]
            for name, count in Counter(final).items():
                if count > 1:
                    problems.append(Problem(f"--{kind}", f"signature {new_key[s.key]!r} would have two {kind}s called {name!r}"))
            after.setdefault(new_key[s.key], {})[f"{kind}s"] = final
            for tm, name in zip(maps, final):
                if name != tm.name:
                    patches[tm.name_field] = name
                    changes.append(f"{kind} {new_key[s.key]}:{tm.name} -> {name}")
                if plan.tensor_names and (name != tm.name or new_key[s.key] != s.key):
                    tensor_renames[(s.subgraph_index, tm.tensor_index)] = f"{new_key[s.key]}_{name}:0"
    for sig_key, io_names in after.items():
        clash = set(io_names.get("inputs", [])) & set(io_names.get("outputs", []))
        if clash:
            problems.append(Problem(sig_key, f"{', '.join(sorted(clash))} would be both an input and an output"))
    if not plan.signatures and not plan.inputs and not plan.outputs:
        problems.append(Problem("", "nothing to rename: give --signature, --input, --output or --map"))
    if problems:
        raise InvalidInput(source, problems)

    problems += _field_problems(m, patches)
    if problems:
        raise InvalidInput(source, problems)

    for (sg, index), name in tensor_renames.items():
        tensor = m.subgraphs[sg].tensors[index]
        if not tensor.name_field:
            raise LitesigError(f"{source}: tensor {index} of subgraph {sg} has no name field to rename")
        patches[tensor.name_field] = name
        changes.append(f"tensor {tensor.name} -> {name}")
    return patches, changes, after


def _field_problems(m: fb.Model, patches: Mapping[int, str]) -> list[Problem]:
    """A name to patch must have its own field: absent (0) would patch the root table; a field that two
    signatures share (one TensorMap table referenced twice) would rename both."""
    problems = []
    if 0 in patches:
        problems.append(Problem("", f"the new name {patches[0][:100]!r} has no field to go in: its old name is absent "
                                    "from the file (an empty name), and patching would corrupt the file"))
    uses: dict[int, int] = {}
    for s in m.signatures:
        for pos in (s.key_field, *(t.name_field for t in s.inputs), *(t.name_field for t in s.outputs)):
            if pos:
                uses[pos] = uses.get(pos, 0) + 1
    shared = sorted(pos for pos in patches if uses.get(pos, 0) > 1)
    if shared:
        problems.append(Problem("", f"{len(shared)} name(s) to rename are stored once and shared by several signatures "
                                    "(a deduplicated file); renaming one would rename all, so nothing was renamed"))
    return problems


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    blob = struct.pack("<I", len(data)) + data + b"\0"
    return blob + b"\0" * (-len(blob) % 4)


def _write(source: Path, target: Path, m: fb.Model, patches: Mapping[int, str],
           after: Mapping[str, Mapping[str, list[str]]] | None = None, *, replace: bool = True,
           progress: Callable[[str], None] | None = None) -> int:
    """Copy the file, append the new strings where they can go, and patch the offset fields."""
    external = sorted(b.offset for b in m.buffers if b.offset > 1)
    size = source.stat().st_size
    insert_at = external[0] if external else size
    start = insert_at + (-insert_at % 4)
    blob = bytearray(b"\0" * (start - insert_at))
    fields: dict[int, int] = {}
    for pos, text in sorted(patches.items()):
        fields[pos] = insert_at + len(blob) - pos  # the string's position, relative to its field
        blob += _string(text)
    shift = 0
    if external:
        shift = len(blob) + (-len(blob) % _ALIGN_EXTERNAL)
        blob += b"\0" * (shift - len(blob))
    for rel in fields.values():
        if not 0 < rel < 2**32:
            raise LitesigError(f"{source}: a new name would lie {rel} bytes from its field, beyond a flatbuffer offset")
    offsets = absolute_offsets(m) if shift else []

    def fill(tmp: Path) -> None:
        with open(source, "rb") as src, open(tmp, "r+b") as dst:  # the temp file is new and empty: no O_TRUNC, which makes ext4 flush at close
            reserve(dst, size + len(blob))
            if progress is not None:
                progress(f"Copying {size:,} bytes")
            copy_range(src, dst, 0, insert_at)
            dst.write(blob)
            dst.flush()
            copy_range(src, dst, insert_at, size - insert_at)
            dst.truncate()  # the file ends where the copy did, whatever was reserved
            for pos, rel in fields.items():
                dst.seek(pos)
                dst.write(struct.pack("<I", rel))
            for pos, value in offsets:
                dst.seek(pos)
                dst.write(struct.pack("<Q", value + shift))
        if after is not None:
            check_written(tmp, after, str(source))  # before it takes the target's name

    write_atomic(target, fill, replace=replace)
    return size + len(blob)


def _in_place_note(source: Path, in_place: bool) -> list[str]:
    if not in_place:
        return []
    note = "in place: the file keeps its mode and owner"
    if source.is_symlink():
        note += f"; written through the symlink to {os.path.realpath(source)}"
    return [note]


def _target(source: Path, output: str | os.PathLike[str] | None, *, in_place: bool, force: bool) -> Path:
    """Where rename/add_signature write: `output`, or `source` itself with in_place."""
    if in_place == (output is not None):
        raise InvalidInput(str(source), [Problem("output", "give an output path (-o) or --in-place, not both or neither")])
    return source if in_place else check_writable(output, force=force, inputs=[source])  # type: ignore[arg-type]


def add_signature(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    name: str,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    in_place: bool = False,
    force: bool = False,
) -> RenameResult:
    """Give a file that has no signatures one, over its main subgraph's inputs and outputs (in order).

    `inputs`/`outputs` name them; left out, each takes its tensor's name made valid
    ('serving_default_x:0' -> 'serving_default_x', 'conv2d/BiasAdd' -> 'conv2d_BiasAdd').

    Nothing is repacked: a new root table and the SignatureDef are written into a block inserted
    after the 8-byte header (see `restructure.set_signatures`). Every other byte follows
    unchanged, shifted by a multiple of 64 bytes, so weights stay byte-identical and keep their
    alignment, metadata buffer indices stay valid, and associated files appended after the
    flatbuffer (a zip) still read back.
    """
    from .restructure import NewSignature, set_signatures

    source = Path(model)
    target = _target(source, output, in_place=in_place, force=force)
    parsed = fb.read_model(source)
    validate(parsed, str(source))
    problems = []
    if parsed.signatures:
        problems.append(Problem("--add-signature", f"the model already has signatures ({listing(s.key for s in parsed.signatures)}); rename them instead"))
    if not parsed.subgraphs:
        problems.append(Problem("--add-signature", "the model has no subgraph"))
    main = parsed.subgraphs[0] if parsed.subgraphs else None
    taken: set[str] = set()
    if main is not None and not inputs:
        inputs = [generic_io_name(main.tensors[t].name, taken) for t in main.inputs]
    if main is not None and not outputs:
        outputs = [generic_io_name(main.tensors[t].name, taken) for t in main.outputs]
    inputs, outputs = list(inputs or ()), list(outputs or ())
    for label, names, tensors in (("--inputs", inputs, main.inputs if main else ()), ("--outputs", outputs, main.outputs if main else ())):
        if main is not None and len(names) != len(tensors):
            existing = ", ".join(main.tensors[t].name for t in tensors)
            problems.append(Problem(label, f"{len(names)} names for {len(tensors)} tensors ({existing})"))
        for n in names:
            why = name_problem(n)
            if why:
                problems.append(Problem(label, why))
    why = name_problem(name)
    if why:
        problems.append(Problem("--add-signature", why))
    if len(set(inputs) | set(outputs)) != len(inputs) + len(outputs):
        problems.append(Problem("--inputs/--outputs", "names must be unique across inputs and outputs"))
    if problems or main is None:
        raise InvalidInput(str(source), problems)
    signature = NewSignature(name, 0, tuple(zip(inputs, main.inputs)), tuple(zip(outputs, main.outputs)))
    edit = set_signatures(source, target, [signature], replace=in_place or force)
    return RenameResult(target, edit.size_bytes, [f"added signature {name} ({edit.shift} bytes inserted after the header; nothing repacked)"],
                        {name: {"inputs": list(inputs), "outputs": list(outputs)}})


def load_rename_map(path: str | os.PathLike[str]) -> RenamePlan:
    """Read a names file:

        [signatures.serving_default]
        name = "classify"
        inputs = { input_layer = "image" }
        outputs = { output_0 = "probs" }
    """
    from .._toml import read_toml

    path = Path(path)
    data = read_toml(path)
    problems = []
    signatures: dict[str, str] = {}
    inputs: dict[tuple[str | None, str], str] = {}
    outputs: dict[tuple[str | None, str], str] = {}
    for key in data:
        if key != "signatures":
            problems.append(Problem(key, "unknown key; expected [signatures.<old name>] tables"))
    for sig, body in (data.get("signatures") or {}).items():
        where = f"signatures.{sig}"
        if not isinstance(body, Mapping):
            problems.append(Problem(where, "expected a table with name, inputs and/or outputs"))
            continue
        for key, value in body.items():
            if key == "name":
                if isinstance(value, str):
                    signatures[sig] = value
                else:
                    problems.append(Problem(f"{where}.name", "expected the new signature name"))
            elif key in ("inputs", "outputs"):
                if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
                    problems.append(Problem(f"{where}.{key}", "expected a table of old name = \"new name\""))
                    continue
                target = inputs if key == "inputs" else outputs
                target.update({(sig, old): new for old, new in value.items()})
            else:
                problems.append(Problem(f"{where}.{key}", "unknown key; expected name, inputs or outputs"))
    if problems:
        raise InvalidInput(str(path), problems)
    return RenamePlan(signatures, inputs, outputs)
