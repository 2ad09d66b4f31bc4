"""Which LiteRT / TensorFlow Lite runtime a .tflite needs, from its op versions.

A runtime loads a file only if it has a kernel for every (builtin op, version) the file uses:
"Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" is a 2.14 runtime meeting a
2.17 op. The first release that supports each (op, version) is a fact of the runtime, kept as
data (data/op_versions.json, read from LiteRT's op-version registry by tools/gen_op_versions.py).
The file's minimum runtime is the newest of those; the converter writes the same computation as
`min_runtime_version` metadata, shown beside ours so a disagreement is seen.

No TensorFlow, no LiteRT: this reads the flatbuffer only.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import flatbuffer as fb
from .._records import plain
from .schema import BUILTIN_OPS
from .kernel_needs import RULES_SOURCE, KernelNeed, kernel_needs
from ..errors import ConversionFailed, InvalidInput, Problem

CUSTOM = 32  # BuiltinOperator.CUSTOM

# What inspect warns against when no --target-runtime is given. tflite-runtime 2.14.0 (Sept 2023)
# is the last tflite-runtime wheel on PyPI and the org.tensorflow:tensorflow-lite 2.14/2.16 AAR
# line is what Android apps of the last two years pin; see docs/runtime-compatibility.md.
BASELINE = "2.14"

_RELEASE = re.compile(r"^\d{1,3}\.\d{1,3}(\.\d{1,3})?$")


@lru_cache(maxsize=1)
def registry() -> dict[str, Any]:
    """The op-version table shipped with litesig (see tools/gen_op_versions.py)."""
    # Beside this module, as setuptools installs package data (importlib.resources would add ~8 ms of imports to inspect)
    text = (Path(__file__).parent / "data" / "op_versions.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def registry_source() -> str:
    """Where the table was read from, for messages: 'google-ai-edge/LiteRT@05215c2 ...'."""
    src = registry()["source"]
    return f"{src['repository']}@{src['commit'][:7]} {src['path']}"


def release_key(release: str) -> tuple[int, int, int]:
    """'2.14' -> (2, 14, 0); '2.17.0' -> (2, 17, 0)."""
    major, minor, patch = ([int(p) for p in release.split(".")] + [0, 0, 0])[:3]
    return major, minor, patch


def target_problem(text: str) -> str | None:
    """What is wrong with a target runtime such as '2.14' or '2.14.0', or None."""
    if not _RELEASE.match(str(text).strip()) or release_key(str(text).strip()) < (1, 0, 0):
        return f"expected a LiteRT/TensorFlow Lite release such as 2.14 or 2.16.1, got {text!r}"
    return None


def parse_target(text: str | None, where: str = "--target-runtime") -> str | None:
    """Validate a target runtime such as '2.14' or '2.14.0'; None stays None.

    Raises:
        InvalidInput: not a release number.
    """
    if text is None:
        return None
    problem = target_problem(text)
    if problem:
        raise InvalidInput(where, [Problem(where, problem)])
    return str(text).strip()


def first_release(op: str, version: int) -> str | None:
    """The first release whose runtime has a kernel for (op, version); None if the table does not list it."""
    versions: dict[str, str] = registry()["ops"].get(op, {})
    return versions.get(str(version))


class OpVersion(NamedTuple):
    """One (op, version) the file uses."""

    op: str  # builtin name, or the custom code for custom and Flex ops
    version: int
    kind: str  # "builtin" | "custom" | "flex"
    count: int  # type: ignore[assignment]  # operators in the file that use it (in place of tuple.count)
    first_release: str | None  # None: custom/Flex, or not in litesig's table


class Blocker(NamedTuple):
    """An op version that a target runtime does not have, why the converter chose it, and what to do."""

    op: str
    version: int
    first_release: str | None
    cause: str
    fix: str
    declared: int | None = None  # set when the need comes from the tensors, not from the declared version

    def __str__(self) -> str:
        if self.declared is not None:
            needs = f"v{self.version}, first in {self.first_release}" if self.first_release else "a kernel no op version marks"
            return f"{self.op} declared v{self.declared}, its tensors need {needs}: {self.cause}. Fix: {self.fix}"
        needs = f"needs {self.first_release}" if self.first_release else "is not in litesig's op-version table"
        return f"{self.op} v{self.version} ({needs}): {self.cause}. Fix: {self.fix}"


class RuntimeRequirement(NamedTuple):
    """What runtime a file needs: every op version, the computed minimum, the converter's metadata."""

    ops: list[OpVersion]  # sorted by op, then version
    min_runtime: str | None  # the newest first_release over builtin ops and what their tensors need; None if it cannot be computed
    metadata_min_runtime: str | None  # the converter's `min_runtime_version` metadata, where present
    needs_registration: list[str]  # custom and Flex ops: the app must register them, whatever the version
    unknown: Sequence[str] = ()  # builtin "OP vN" not in the table (newer than it, or bogus)
    registry: str = ""
    baseline: str = BASELINE
    target: str | None = None  # the runtime asked for (--target-runtime), if any
    target_blockers: Sequence[Blocker] = ()  # what that target lacks
    # operators whose tensors (int4, blockwise, int16/int8 activations) need more than their declared version says
    understated: Sequence[KernelNeed] = ()

    def to_dict(self) -> dict[str, Any]:
        """The `runtime` object of inspect's and verify's --json."""
        result: dict[str, Any] = plain(self)
        return result

    @property
    def metadata_disagrees(self) -> bool:
        """The converter's metadata and the table give different minimum runtimes."""
        if not self.metadata_min_runtime or not self.min_runtime:
            return False
        return release_key(self.metadata_min_runtime) != release_key(self.min_runtime)

    def blockers(self, target: str, model: fb.Model | None = None) -> list[Blocker]:
        """The op versions a `target` runtime lacks (unknown ones included: they cannot be shown to load)."""
        key = release_key(target)
        out = []
        for o in self.ops:
            if o.kind != "builtin":
                continue
            if o.first_release is None or release_key(o.first_release) > key:
                cause, fix = explain(o.op, o.version, o.first_release, target, model)
                out.append(Blocker(o.op, o.version, o.first_release, cause, fix))
        for n in self.understated:
            release = first_release(n.op, n.implied) if n.implied is not None else None
            if release is None or release_key(release) > key:
                out.append(Blocker(n.op, n.implied if n.implied is not None else n.declared, release, *_explain_need(n), declared=n.declared))
        return out

    def loads_on(self, target: str) -> bool:
        """Whether a plain `target` runtime loads the file: every builtin op version, and no custom/Flex op to register."""
        return not self.blockers(target) and not self.needs_registration


def requirement(model: fb.Model, data: bytes | bytearray | memoryview | str | os.PathLike[str] | None = None, *,
                target: str | None = None) -> RuntimeRequirement:
    """The runtime a parsed model needs; with `target`, what that runtime lacks. `data` (the file or its bytes) lets the metadata be read."""
    counts: dict[int, int] = {}
    for sg in model.subgraphs:
        for op in sg.operators:
            counts[op.opcode_index] = counts.get(op.opcode_index, 0) + 1
    merged: dict[tuple[str, int, str], int] = {}
    for index, code in enumerate(model.operator_codes):
        n = counts.get(index, 0)
        if not n:
            continue  # an opcode no operator uses is not resolved by the runtime
        if code.builtin_code == CUSTOM:
            name = code.custom_code or "CUSTOM"
            kind = "flex" if name.startswith("Flex") else "custom"
        else:
            name, kind = BUILTIN_OPS.get(code.builtin_code, f"BUILTIN_{code.builtin_code}"), "builtin"
        merged[(name, code.version, kind)] = merged.get((name, code.version, kind), 0) + n
    ops = [OpVersion(name, version, kind, n, first_release(name, version) if kind == "builtin" else None)
           for (name, version, kind), n in sorted(merged.items())]
    needs = kernel_needs(model)
    known = [o.first_release for o in ops if o.first_release]
    known += [r for n in needs if n.implied is not None and (r := first_release(n.op, n.implied))]
    req = RuntimeRequirement(
        ops=ops,
        # a kernel no op version marks (int4 or blockwise weights in a float kernel): no release can be computed
        min_runtime=max(known, key=release_key) if known and all(n.implied is not None for n in needs) else None,
        metadata_min_runtime=metadata_string(model, data, "min_runtime_version") if data is not None else None,
        needs_registration=sorted({f"{o.op} ({o.kind})" for o in ops if o.kind != "builtin"}),
        unknown=[f"{o.op} v{o.version}" for o in ops if o.kind == "builtin" and o.first_release is None],
        registry=f"{registry_source()}, newest release listed {registry()['newest_release']}",
        target=target,
        understated=needs,
    )
    if target is not None:
        req = req._replace(target_blockers=req.blockers(target, model))
    return req


def metadata_string(model: fb.Model, data: bytes | bytearray | memoryview | str | os.PathLike[str], name: str) -> str | None:
    """A short metadata entry's bytes as text (NUL-padded, as the converter writes it); None if absent or odd."""
    raw = fb.metadata_bytes(model, data, name, max_size=64)
    if raw is None:
        return None
    text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace")
    return text if _RELEASE.match(text) else None


# ---------------------------------------------------------------------------------------------
# Why the converter wrote a version, and what to do. Read from the versioning rules in
# tflite/tools/versioning/op_version.cc (GetBuiltinOperatorVersion); only versions newer than
# the releases apps commonly ship are described, the rest get the generic explanation.

_CAUSES: dict[tuple[str, int], tuple[str, str]] = {
    ("FULLY_CONNECTED", 12): (
        "dynamic-range int8 (float activations, int8 weights) with per-channel weight scales; "
        "--optimize dynamic-int8 quantizes Dense weights per channel by default",
        "reconvert with litesig convert --target-runtime <release> (litesig then quantizes Dense weights per tensor, "
        "which gives FULLY_CONNECTED v9, supported since 2.3), or use --optimize float16 or int8"),
    ("FULLY_CONNECTED", 9): ("dynamic-range int8 (float activations, int8 weights) with inputs quantized asymmetrically at run time",
                             "use --optimize float16 or int8 for runtimes before 2.3"),
    ("FULLY_CONNECTED", 13): ("int16 activations with int4 weights", "quantize weights to int8 instead of int4"),
    ("FULLY_CONNECTED", 11): ("int16x8 quantization with a quantized (int32/int64) bias type",
                              "quantize without int16 activations, or keep the bias in the default type"),
    ("FULLY_CONNECTED", 10): ("int8 activations with int4 weights", "quantize weights to int8 instead of int4"),
    ("CONV_2D", 8): ("int16x8 quantization with a quantized bias type", "quantize without int16 activations"),
    ("CONV_2D", 7): ("int8 activations with int4 weights", "quantize weights to int8 instead of int4"),
    ("DEPTHWISE_CONV_2D", 7): ("int8 activations with int4 weights", "quantize weights to int8 instead of int4"),
    ("TRANSPOSE_CONV", 5): ("int16x8 quantization with a quantized bias type", "quantize without int16 activations"),
    ("EMBEDDING_LOOKUP", 4): ("an int4 or per-channel quantized embedding table",
                              "quantize the table per tensor to int8, or leave it float (--optimize float16)"),
    ("DEQUANTIZE", 6): ("an int4 weight dequantized at run time", "quantize weights to int8 instead of int4"),
    ("GATHER", 7): ("gathering from an int4 tensor", "quantize weights to int8 instead of int4"),
    ("GATHER", 6): ("int16 indices", "cast indices to int32 in the model"),
    ("GATHER_ND", 5): ("gathering from a bool tensor", "cast to int32/uint8 before the gather"),
    ("TRANSPOSE", 7): ("transposing an int4 tensor", "quantize weights to int8 instead of int4"),
    ("STRIDED_SLICE", 8): ("a strided slice with offset=True (from StableHLO-style slicing)", "slice with plain begin/end/strides"),
    ("STRIDED_SLICE", 7): ("slicing a uint32 tensor", "use int32"),
    ("SLICE", 6): ("slicing a uint32 tensor", "use int32"),
    ("CONCATENATION", 4): ("concatenating uint32 tensors", "use int32"),
    ("RANGE", 2): ("an int64 range", "compute the range in int32"),
}


def explain(op: str, version: int, release: str | None, target: str, model: fb.Model | None = None) -> tuple[str, str]:
    """(cause, fix) for an op version that a `target` runtime lacks."""
    if release is None:
        return (f"litesig's op-version table ({registry_source()}) does not list this version, so no release "
                "can be shown to support it",
                "check the op's versioning rules, or convert without what makes the converter pick this version")
    known = _CAUSES.get((op, version))
    if known:
        return known
    return (f"the converter picked version {version} for this op's input types or options; runtimes before {release} "
            "have no kernel for it",
            f"ship a runtime >= {release}, or change the model or --optimize mode so the op keeps an older version")


def _explain_need(n: KernelNeed) -> tuple[str, str]:
    """(cause, fix) for an operator whose tensors need more than its declared version."""
    if n.implied is None:
        return (f"{n.feature}: the file declares v{n.declared}, but LiteRT's versioning rules ({RULES_SOURCE}) have no "
                "version for this kernel, so no release can be shown to compute it (tflite-runtime 2.14 loads such files "
                "and computes wrong numbers)",
                "quantize weights to int8 (--optimize dynamic-int8 or weight-only-int8), or check the app's runtime with "
                "litesig verify on it")
    return (f"{n.feature}: the file declares v{n.declared} (ai-edge-quantizer writes every op as v1), but these tensors need "
            f"the kernel of v{n.implied} (per {RULES_SOURCE})",
            "quantize weights to int8 instead of int4, or ship a runtime that has that version")


def dense_per_tensor_helps(req: RuntimeRequirement, target: str) -> bool:
    """Whether the dynamic-range per-channel Dense case (FULLY_CONNECTED v12) is what keeps the file off `target`."""
    return any(b.op == "FULLY_CONNECTED" and b.version == 12 for b in req.blockers(target))


def runtime_warnings(req: RuntimeRequirement) -> list[tuple[str, str, str]]:
    """(code, message, fix) for inspect: a target the file does not load on, or (no target) a runtime newer than BASELINE."""
    out = []
    if req.target is not None:
        for b in req.target_blockers:
            if b.declared is not None:
                out.append(("target_runtime", f"{b.op} is declared v{b.declared} but its tensors need more than a {req.target} runtime "
                            f"is shown to have: it may load the file and fail at prepare or compute wrong numbers; cause: {b.cause}", b.fix))
                continue
            needs = f"first supported in {b.first_release}" if b.first_release else "not in litesig's op-version table"
            out.append(("target_runtime", f"{b.op} v{b.version} is {needs}: a {req.target} runtime refuses the file "
                        f"(\"Didn't find op for builtin opcode '{b.op}' version '{b.version}'\"); cause: {b.cause}", b.fix))
    elif req.min_runtime and release_key(req.min_runtime) > release_key(BASELINE):
        newest = [o for o in req.ops if o.first_release and release_key(o.first_release) > release_key(BASELINE)]
        listed = ", ".join([f"{o.op} v{o.version} ({o.first_release})" for o in newest]
                           + [f"{n.op} v{n.implied} by its tensors ({r})" for n in req.understated if n.implied is not None
                              and (r := first_release(n.op, n.implied)) and release_key(r) > release_key(BASELINE)])
        fixes = sorted({explain(o.op, o.version, o.first_release, BASELINE)[1] for o in newest}
                       | {_explain_need(n)[1] for n in req.understated})
        out.append(("newer_runtime", f"needs LiteRT/TensorFlow Lite >= {req.min_runtime} for {listed}; runtimes apps commonly ship "
                    f"(tflite-runtime {BASELINE}, older Android/iOS builds) refuse it",
                    "; ".join(fixes) + "; inspect --target-runtime <release> checks the release the app ships"))
    # Only where it matters: a need no release can be named for, or one newer than the target (else the baseline).
    floor = release_key(req.target or BASELINE)
    relevant = [n for n in req.understated
                if n.implied is None or (r := first_release(n.op, n.implied)) is None or release_key(r) > floor]
    if relevant:
        listed = "; ".join(f"{n.op} declared v{n.declared}, its tensors need "
                           + (f"v{n.implied} ({first_release(n.op, n.implied) or 'not in the table'})" if n.implied is not None
                              else "a kernel no op version marks")
                           + f" ({n.feature})" for n in relevant)
        out.append(("understated_op_versions", f"declared op versions understate what the tensors need: {listed}; a runtime "
                    "picks kernels by declared version only, so one that lacks the needed kernel may load the file and "
                    "fail at prepare or compute wrong numbers",
                    "trust litesig's minimum runtime over the declared versions and the metadata (it counts these tensors), "
                    "and prove the file on the app's runtime (tests: litesig.runtimes.legacy)"))
    if req.metadata_disagrees:
        out.append(("min_runtime_metadata", f"the file's min_runtime_version metadata says {req.metadata_min_runtime}, its op versions "
                    f"need {req.min_runtime} (per {req.registry})",
                    "trust the op versions; the metadata is written by the converter and not checked by runtimes"))
    if req.unknown:
        out.append(("unknown_op_versions", f"op versions not in litesig's table: {', '.join(req.unknown)}; no runtime release can be "
                    "named for them", "check them against the runtime the app ships (litesig verify on that runtime)"))
    return out


# ---------------------------------------------------------------------------------------------
# convert --target-runtime: converter settings that keep older op versions, and the final check.

_DENSE_PER_TENSOR = "_experimental_disable_per_channel_quantization_for_dense_layers"


def wants_dense_per_tensor(optimize: str, target: str | None) -> bool:
    """Whether a target asks for per-tensor Dense weights in dynamic-range int8.

    Dynamic-range int8 quantizes Dense weights per channel, which makes FULLY_CONNECTED v12
    (runtimes >= 2.17). Per-tensor Dense weights give v9 (>= 2.3): same graph, one weight scale
    per layer instead of one per output channel. verify then checks the result as usual.
    """
    v12 = first_release("FULLY_CONNECTED", 12)
    return target is not None and optimize == "dynamic-int8" and v12 is not None and release_key(target) < release_key(v12)


def tune_converter(converter: Any, optimize: str, target: str | None) -> None:
    """Set the converter options that a target runtime needs (a TFLiteConverter, before convert())."""
    if wants_dense_per_tensor(optimize, target) and hasattr(converter, _DENSE_PER_TENSOR):
        setattr(converter, _DENSE_PER_TENSOR, True)


def check_target(content: bytes, optimize: str, target: str | None, out_path: object) -> list[str]:
    """Refuse a converted model that `target` cannot load; return notes for the result.

    Raises:
        TargetRuntimeMissed: some op version is newer than the target (nothing has been written).
    """
    if target is None:
        return []
    model = fb.parse(content)
    req = requirement(model, content, target=target)
    if req.target_blockers:
        raise TargetRuntimeMissed(target, req, str(out_path))
    notes = []
    if wants_dense_per_tensor(optimize, target) and any(o.op == "FULLY_CONNECTED" and o.version in (3, 9) for o in req.ops):
        notes.append(f"--target-runtime {target}: Dense weights were quantized per tensor (converter option {_DENSE_PER_TENSOR}), "
                     "so FULLY_CONNECTED is v9 (runtimes >= 2.3.0) instead of v12 (>= 2.17.0); per-channel scales are "
                     "slightly finer, and the result was verified against the source as usual")
    notes.append(f"--target-runtime {target}: every builtin op version is in that runtime (the file needs >= {req.min_runtime or 'any'})")
    if req.needs_registration:
        notes.append(f"--target-runtime {target}: the app must also register {', '.join(req.needs_registration)}")
    return notes


class TargetRuntimeMissed(ConversionFailed):
    """The converted model needs a newer runtime than the target; nothing was written."""

    def __init__(self, target: str, req: RuntimeRequirement, out_path: str):
        self.target, self.requirement = target, req
        lines = [str(b) for b in req.target_blockers]
        super().__init__(f"{out_path} was not written: the converted model needs a newer runtime than the target {target} "
                         f"(it needs >= {req.min_runtime}; op versions per {req.registry}):\n  - " + "\n  - ".join(lines))
