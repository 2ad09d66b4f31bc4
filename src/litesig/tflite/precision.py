"""What precision a .tflite file computes in, read from what it holds (no TensorFlow, no LiteRT, no numpy).

Three tensor kinds are read apart, whatever tool made the file (the TFLite converter,
ai-edge-quantizer, a hand edit):

- weights: the constant tensors ops read, by type and granularity (per-tensor, per-channel,
  blockwise), and how they are used: through a DEQUANTIZE op (weight-only: the math runs in
  float) or straight into FULLY_CONNECTED/CONV/... next to float activations (dynamic range:
  the kernel quantizes activations on the fly);
- activations: the types of the non-constant tensors that compute ops read;
- I/O: each signature input's and output's type.

`mode` is the tolerance key verify uses (see parity.Tolerance.for_mode): it is derived from
those facts and never says more than the file shows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from . import flatbuffer as fb
from .._records import plain
from .schema import BUILTIN_OPS, TENSOR_TYPES

# TensorType codes (schema.fbs)
FLOAT32, FLOAT16, INT32, UINT8, INT64, BOOL, INT16, INT8, FLOAT64, INT4 = 0, 1, 2, 3, 4, 6, 7, 9, 10, 17
QUANTIZED_TYPES = {UINT8: 8, INT16: 16, INT8: 8, INT4: 4}  # type -> bits, when the tensor carries quantization
FLOATS = {FLOAT32, FLOAT16, FLOAT64}
_CONVERSIONS = {"QUANTIZE", "DEQUANTIZE"}

# Modes from loosest to tightest tolerance: verify uses the looser of two files' modes.
MODES = ("int8", "int16", "dynamic-int4", "weight-only-int4", "dynamic-int8", "weight-only-int8", "float16", "none")


class Precision(NamedTuple):
    """The precision of each tensor kind, as the file holds it.

    Attributes:
        mode: the tolerance key: none (float32), float16, weight-only-int8/int4, dynamic-int8/int4,
            int8 or int16 (integer activations).
        weights: weight kind ("float32", "float16", "int8 per-channel", "int4 blockwise-32", ...)
            -> bytes of constant data of that kind.
        weight_use: how quantized weights reach the math: "weight-only" (DEQUANTIZE to float),
            "dynamic-range" (integer weights, float activations, into the kernel), "integer"
            (integer activations too), or "" when no weight is quantized.
        activations: types of the non-constant tensors compute ops read ("float32", "int8", ...).
        inputs / outputs: "<signature>/<name>" -> dtype.
        label: one line for people.
    """

    mode: str
    weights: dict[str, int]
    weight_use: str
    activations: list[str]
    inputs: dict[str, str]
    outputs: dict[str, str]
    label: str

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(self)
        return result


def looser(a: str, b: str) -> str:
    """The mode of the two whose tolerance is looser (unknown modes count as the tightest)."""
    rank = {m: i for i, m in enumerate(MODES)}
    return a if rank.get(a, len(MODES)) <= rank.get(b, len(MODES)) else b


def type_name(code: int) -> str:
    return TENSOR_TYPES.get(code, f"type_{code}").lower()


def read_precision(m: fb.Model) -> Precision:
    """Read the precision of every tensor kind from a parsed model."""
    weights: Counter[str] = Counter()
    activations: set[str] = set()
    direct = False  # quantized weights straight into a kernel beside float activations (else through DEQUANTIZE)
    weight_bits: set[int] = set()
    for sg in m.subgraphs:
        seen: set[int] = set()
        for op in sg.operators:
            code = m.operator_codes[op.opcode_index]
            name = BUILTIN_OPS.get(code.builtin_code, "")
            float_activation = any(
                i >= 0 and not _constant(m, sg.tensors[i]) and sg.tensors[i].type in FLOATS for i in op.inputs
            )
            for i in op.inputs:
                if i < 0:
                    continue
                t = sg.tensors[i]
                if _constant(m, t):
                    bits = _quantized_bits(t)
                    if bits:
                        weight_bits.add(bits)
                        if float_activation and name not in _CONVERSIONS:
                            direct = True
                    if i not in seen and (t.type in FLOATS or bits) and not _is_bias(t):
                        seen.add(i)
                        weights[_weight_kind(t)] += m.buffers[t.buffer].nbytes
                elif name not in _CONVERSIONS and (t.type in FLOATS or _quantized_bits(t)):
                    activations.add(type_name(t.type))
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for s in m.signatures:
        sg = m.subgraphs[s.subgraph_index]
        for tm in s.inputs:
            inputs[f"{s.key}/{tm.name}"] = type_name(sg.tensors[tm.tensor_index].type)
        for tm in s.outputs:
            outputs[f"{s.key}/{tm.name}"] = type_name(sg.tensors[tm.tensor_index].type)

    int_acts = sorted(a for a in activations if a in ("int8", "uint8", "int16"))
    if int_acts:
        mode = "int8" if ("int8" in int_acts or "uint8" in int_acts) else "int16"
        use = "integer" if weight_bits else ""
    elif weight_bits:
        bits = min(weight_bits)
        use = "dynamic-range" if direct else "weight-only"
        mode = f"{'dynamic' if direct else 'weight-only'}-int{bits}"
    elif any(k == "float16" for k in weights):
        mode, use = "float16", ""
    else:
        mode, use = "none", ""
    acts = sorted(activations) or ["float32"]
    return Precision(mode=mode, weights=dict(weights.most_common()), weight_use=use, activations=acts,
                     inputs=inputs, outputs=outputs, label=_label(mode, weights, use, acts, inputs, outputs))


def _constant(m: fb.Model, t: fb.Tensor) -> bool:
    return m.buffers[t.buffer].nbytes > 0


def _quantized_bits(t: fb.Tensor) -> int:
    return QUANTIZED_TYPES.get(t.type, 0) if t.quantization is not None else 0


def _is_bias(t: fb.Tensor) -> bool:
    """int32/int64 constants (biases of integer kernels, shapes, indices) are not what 'weights' means."""
    return t.type in (INT32, INT64)


def _weight_kind(t: fb.Tensor) -> str:
    kind = type_name(t.type)
    q = t.quantization
    if q is None or t.type in FLOATS:
        return kind
    if q.details_type == 2:
        return f"{kind} blockwise-{q.block_size}"
    return f"{kind} per-channel" if len(q.scale) > 1 else f"{kind} per-tensor"


def _label(mode: str, weights: Counter[str], use: str, acts: list[str], inputs: dict[str, str], outputs: dict[str, str]) -> str:
    total = sum(weights.values())
    if len(weights) > 1 and total:  # mixed: every kind with its share of the weight bytes
        w = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))
    else:
        w = next(iter(weights), "none")
    io_in = "/".join(sorted(set(inputs.values()))) or "-"
    io_out = "/".join(sorted(set(outputs.values()))) or "-"
    how = f" ({use})" if use else ""
    return f"{mode}: weights {w}{how}; activations {'/'.join(acts)}; inputs {io_in}, outputs {io_out}"


# --optimize names that are not precision modes themselves -> the mode the file they make is read as.
_OPTIMIZE_TO_MODE = {"blockwise-int4": "dynamic-int4", "static-int8": "int8", "static-int16": "int16"}


def mode_of_optimize(name: str) -> str:
    """The precision mode an --optimize name produces (a precision mode maps to itself)."""
    return _OPTIMIZE_TO_MODE.get(name, name)
