"""Another .tflite as verify's reference, followed across edits: renamed signatures, inputs and
outputs (a rename map, or a match by structure), and files without signatures (subgraph 0).

The reference is called as a user calls it: its own signature runner (or, without signatures,
the interpreter's main subgraph), fed the same arrays under its own names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..tflite import flatbuffer as fb
from ..errors import InvalidInput, LitesigError, Problem
from ..runtimes.quant import run_float
from ..runtimes.interpreter import Runner

Reference = Callable[[str, Mapping[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Match:
    """How one signature of the checked file maps onto the reference."""

    signature: str
    reference: str | None  # the reference's signature; None: its subgraph 0 (a file without signatures)
    inputs: dict[str, str]  # checked input name -> reference input name (subgraph: "#<position>")
    outputs: dict[str, str]  # reference output name -> checked output name
    how: str  # "by name", "by --map", "by structure"


def _io(m: fb.Model, sg_index: int, maps: Sequence[tuple[str, int]]) -> list[tuple[str, str, tuple[int, ...]]]:
    sg = m.subgraphs[sg_index]
    return [(name, _real_type(sg.tensors[t]), sg.tensors[t].dims) for name, t in maps]


def _real_type(t: fb.Tensor) -> str:
    """A quantized int8/uint8/int16 tensor holds real values (verify quantizes/dequantizes it): it pairs with float32."""
    quantized = t.type in (3, 7, 9) and t.quantization is not None and len(t.quantization.scale) == 1
    return "0" if quantized else str(t.type)


def _sig_io(m: fb.Model, s: fb.SignatureDef) -> tuple[list[Any], list[Any]]:
    return (_io(m, s.subgraph_index, [(tm.name, tm.tensor_index) for tm in s.inputs]),
            _io(m, s.subgraph_index, [(tm.name, tm.tensor_index) for tm in s.outputs]))


def _structure(io: list[Any]) -> list[tuple[str, tuple[int, ...]]]:
    return [(dtype, dims) for _, dtype, dims in io]


def match_signatures(model: fb.Model, reference: fb.Model, signatures: Sequence[str], *,
                     names: Any = None, source: str = "--against") -> list[Match]:
    """Pair each checked signature with the reference's, by --map, by name, or by structure (in file order).

    `names` is a RenamePlan (rename's format: old = the reference's names, new = the checked file's).

    Raises:
        InvalidInput: a signature that cannot be paired, saying what differs.
    """
    problems: list[Problem] = []
    ref_sigs = {s.key: s for s in reference.signatures}
    mine = {s.key: s for s in model.signatures}
    renamed_from = {new: old for old, new in (names.signatures.items() if names else ())}
    matches = []
    for key in signatures:
        s = mine[key]
        ins, outs = _sig_io(model, s)
        if not reference.signatures:
            sg = reference.subgraphs[0]
            r_ins = _io(reference, 0, [(f"#{i}", t) for i, t in enumerate(sg.inputs)])
            r_outs = _io(reference, 0, [(f"#{i}", t) for i, t in enumerate(sg.outputs)])
            ref_key, how = None, "by structure (the reference has no signatures: its subgraph 0)"
            if len(signatures) > 1 and s.subgraph_index != 0:
                problems.append(Problem(key, f"the reference has no signatures, so only subgraph 0 can be run; {key!r} is subgraph {s.subgraph_index}"))
                continue
        else:
            ref_key = renamed_from.get(key, key)
            how = "by --map" if key in renamed_from else "by name"
            if ref_key not in ref_sigs:
                ordered = list(ref_sigs)
                if len(ordered) == len(model.signatures) and key in [x.key for x in model.signatures]:
                    ref_key = ordered[[x.key for x in model.signatures].index(key)]
                    how = "by structure (signature names differ; paired in file order)"
                else:
                    problems.append(Problem(key, f"the reference has no signature {key!r} ({', '.join(ref_sigs)}) and a different number of "
                                            f"signatures ({len(ref_sigs)} vs {len(model.signatures)}); give --map names.toml"))
                    continue
            r_ins, r_outs = _sig_io(reference, ref_sigs[ref_key])
        plan_in: dict[str, str] = {}
        if names is not None:
            for (sig, old), new in names.inputs.items():
                if sig in (None, ref_key, key):
                    plan_in[new] = old
        plan_out: dict[str, str] = {}
        if names is not None:
            for (sig, old), new in names.outputs.items():
                if sig in (None, ref_key, key):
                    plan_out[new] = old
        in_map = _pair(ins, r_ins, plan_in, key, "input", problems)
        out_map = _pair(outs, r_outs, plan_out, key, "output", problems)
        if in_map is not None and out_map is not None:
            if how == "by name" and (any(a != b for a, b in in_map.items()) or any(a != b for a, b in out_map.items())):
                how = "by --map" if names is not None else "by structure (names differ; paired in file order)"
            matches.append(Match(key, ref_key, in_map, {r: m for m, r in out_map.items()}, how))
    if problems:
        raise InvalidInput(source, problems)
    return matches


def _pair(mine: list[Any], ref: list[Any], renamed: Mapping[str, str], key: str, kind: str,
          problems: list[Problem]) -> dict[str, str] | None:
    """checked name -> reference name: by --map, else by name, else by position when dtypes and shapes match
    in order, else by dtype and shape when each occurs once."""
    ref_names = [n for n, _, _ in ref]
    wanted = {n: renamed.get(n, n) for n, _, _ in mine}
    if all(w in ref_names for w in wanted.values()) and len(mine) == len(ref):
        by_name = {n: (d, s) for n, d, s in ref}
        bad = [n for n, d, s in mine if (d, s) != by_name[wanted[n]]]
        if not bad:
            return wanted
    if _structure(mine) == _structure(ref):
        return {m[0]: r[0] for m, r in zip(mine, ref)}
    kinds = _structure(mine)
    if sorted(kinds) == sorted(_structure(ref)) and len(set(kinds)) == len(kinds):  # each dtype/shape once: unambiguous
        by_kind = {(d, s): n for n, d, s in ref}
        return {n: by_kind[(d, s)] for n, d, s in mine}
    problems.append(Problem(f"{key}.{kind}s", f"cannot pair the {kind}s: this file has {_describe(mine)}, the reference has "
                            f"{_describe(ref)}; give --map names.toml"))
    return None


def _describe(io: list[Any]) -> str:
    from ..tflite.schema import TENSOR_TYPES

    return ", ".join(f"{n} {TENSOR_TYPES.get(int(d), d).lower()} {list(s)}" for n, d, s in io) or "none"


def tflite_reference(path: str | os.PathLike[str], signatures: Sequence[str], runner: Runner, *,
                     names: Any = None) -> tuple[Reference, fb.Model | None, list[Match]]:
    """The reference callable for another .tflite, its parsed model, and how signatures were paired."""
    path = Path(path)
    other = Runner(path)
    if other.model is None or runner.model is None:
        raise LitesigError(f"{path}: cannot read the model's structure to pair its signatures")
    matches = {m.signature: m for m in match_signatures(runner.model, other.model, signatures, names=names)}
    content = path.read_bytes() if not other.signatures else b""

    def reference(sig: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        m = matches[sig]
        if m.reference is None:
            arrays = [feed[n] for n, _ in sorted(m.inputs.items(), key=lambda kv: int(kv[1][1:]))]
            outs = run_main_subgraph(content, arrays)
            return {m.outputs[f"#{i}"]: v for i, v in enumerate(outs)}
        got = run_float(other, {m.inputs[n]: a for n, a in feed.items()}, m.reference)  # integer I/O: its own scale/zero point
        return {m.outputs.get(n, n): v for n, v in got.items()}

    return reference, other.model, list(matches.values())


def run_main_subgraph(content: bytes, arrays: Sequence[np.ndarray], *, num_threads: int | None = None) -> list[np.ndarray]:
    """Run subgraph 0 of a .tflite (files without signatures) on arrays given in its input order."""
    from ai_edge_litert.interpreter import Interpreter

    from .._io import captured_stderr

    try:
        with captured_stderr():
            it = Interpreter(model_content=content, num_threads=num_threads)
            details = it.get_input_details()
            if len(details) != len(arrays):
                raise LitesigError(f"subgraph 0 takes {len(details)} inputs, {len(arrays)} given")
            for d, a in zip(details, arrays):
                if tuple(d["shape"]) != tuple(a.shape):
                    it.resize_tensor_input(d["index"], list(a.shape))
            it.allocate_tensors()
            for d, a in zip(details, arrays):
                it.set_tensor(d["index"], np.asarray(a, dtype=d["dtype"]))
            it.invoke()
            return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]
    except (ValueError, RuntimeError) as e:
        raise LitesigError(f"subgraph 0 failed to run: {e}") from None
