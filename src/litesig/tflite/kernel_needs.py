"""What each operator's tensors need from a runtime, whatever op version the file declares.

A runtime picks a kernel by (op, version) only: it never checks that the version matches the
tensors. The TFLite converter writes the version LiteRT's versioning rules give for the tensor
types (tflite/tools/versioning/op_version.cc, GetBuiltinOperatorVersion); ai-edge-quantizer writes
every op as version 1. So a file with int4 weights or int16 activations can declare versions
that a 2.14 runtime has, and that runtime then loads it and fails at prepare (DEQUANTIZE of
int4), or runs it and computes wrong numbers (int4 weights in a float kernel, blockwise scales).

This module re-derives, from the tensor types, the version those rules give (the type-based
rules only; options such as quantized bias types are not read), and flags two kinds the
rules cannot express, for which no release can be derived from LiteRT's registry:

- int4 weights read by a float-activation (dynamic-range) kernel: GetBuiltinOperatorVersion gives
  such an op the float version (FULLY_CONNECTED/CONV_2D/DEPTHWISE_CONV_2D v1);
- blockwise quantization (the schema's BlockwiseQuantization details): no op version marks it.

Measured on tflite-runtime 2.14.0 (tests/runtimes/test_legacy.py, docs/runtime-compatibility.md):
weight-only int4 is refused at prepare (DEQUANTIZE expects uint8/int8/int16/float16), dynamic
int4 and blockwise int4 load and give numbers unlike ai-edge-litert's (NaN, zeros), static int16
and int8 load and match.

Source of the rules: google-ai-edge/LiteRT tflite/tools/versioning/op_version.cc (read at
22f0209b); the release of each version comes from data/op_versions.json (runtime_version.cc).
"""

from __future__ import annotations

from typing import NamedTuple

from . import flatbuffer as fb
from .schema import BUILTIN_OPS

FLOAT32, FLOAT16, INT16, INT8, INT4 = 0, 1, 7, 9, 17
BLOCKWISE = 2  # QuantizationDetails union: BlockwiseQuantization
RULES_SOURCE = "google-ai-edge/LiteRT@22f0209 tflite/tools/versioning/op_version.cc (GetBuiltinOperatorVersion)"

# Ops whose input 1 is the weight and that run "hybrid" (float activations, integer weights).
_HYBRID = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "EMBEDDING_LOOKUP",
           "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "SVDF", "RNN"}
# Ops whose version depends only on input 0 being int16 (3) or int8 (2), per op_version.cc.
_INT16_3_INT8_2 = {"SOFTMAX", "MEAN", "MIRROR_PAD", "REDUCE_MAX", "REDUCE_MIN", "RELU6", "RSQRT",
                   "MAX_POOL_2D", "AVERAGE_POOL_2D", "TANH", "LOGISTIC", "CONCATENATION", "RELU", "PAD", "PADV2"}


class KernelNeed(NamedTuple):
    """An operator whose tensors need more than its declared op version says.

    Attributes:
        op: builtin op name.
        declared: the version the file declares.
        implied: the version LiteRT's versioning rules give for these tensors; None when the rules
            have no version for them (see `feature`).
        feature: what in the tensors needs it ("int4 weights", "int16 activations", ...).
        count: operators in the file with this need.
    """

    op: str
    declared: int
    implied: int | None
    feature: str
    count: int  # type: ignore[assignment]  # the record's field, in place of tuple.count


def _t(sg: fb.SubGraph, op: fb.Operator, i: int, outputs: bool = False) -> fb.Tensor | None:
    idx = op.outputs if outputs else op.inputs
    return sg.tensors[idx[i]] if i < len(idx) and idx[i] >= 0 else None


def _type(t: fb.Tensor | None) -> int:
    return -1 if t is None else t.type


def _per_channel(t: fb.Tensor | None) -> bool:
    return t is not None and t.quantization is not None and len(t.quantization.scale) > 1


def implied_version(op: str, sg: fb.SubGraph, operator: fb.Operator) -> tuple[int | None, str] | None:
    """(version, feature) that LiteRT's rules give this operator's tensor types, where it is above 1; None if nothing applies.

    A version of None means the tensors need a kernel the rules have no version for.
    """
    i0, i1 = _type(_t(sg, operator, 0)), _type(_t(sg, operator, 1))
    o0 = _type(_t(sg, operator, 0, outputs=True))
    w = _t(sg, operator, 1)
    if op in _HYBRID and i0 in (FLOAT32, FLOAT16) and w is not None and w.quantization is not None:
        if w.quantization.details_type == BLOCKWISE:
            return None, f"blockwise-quantized weights (blocks of {w.quantization.block_size}) in a float kernel"
        if w.type == INT4:
            return None, "int4 weights in a float-activation (dynamic-range) kernel"
    if op == "FULLY_CONNECTED":
        if i0 == INT16 and i1 == INT4 and o0 == INT16:
            return 13, "int16 activations with int4 weights"
        if i0 == FLOAT32 and i1 == INT8 and o0 == FLOAT32 and _per_channel(w):
            return 12, "float activations with per-channel int8 weights"
        if i0 == INT16 and i1 == INT16 and o0 == INT16:
            return 7, "int16 activations and weights"
        if i0 == INT8 and i1 == INT8 and o0 == INT8:
            return 4, "int8 activations and weights"
        if i0 == INT8 and i1 == INT4 and o0 == INT8:
            return 10, "int8 activations with int4 weights"
        if i0 == FLOAT32 and i1 == INT8 and o0 == FLOAT32:
            return 3, "float activations with int8 weights"
    elif op == "CONV_2D":
        if i0 == INT8 and i1 == INT8 and o0 == INT8:
            return 3, "int8 activations and weights"
        if i0 == INT8 and i1 == INT4 and o0 == INT8:
            return 7, "int8 activations with int4 weights"
        if i0 == FLOAT32 and i1 == INT8 and o0 == FLOAT32:
            return (5, "float activations with per-channel int8 weights") if _per_channel(w) else (2, "float activations with int8 weights")
    elif op == "DEPTHWISE_CONV_2D":
        if i0 == FLOAT32 and i1 == INT8 and o0 == FLOAT32:
            return (6, "float activations with per-channel int8 weights") if _per_channel(w) else (4, "float activations with int8 weights")
        if i0 == INT8 and i1 == INT8 and o0 == INT8:
            return 3, "int8 activations and weights"
        if i0 == INT8 and i1 == INT4 and o0 == INT8:
            return 7, "int8 activations with int4 weights"
    elif op == "EMBEDDING_LOOKUP":
        if i1 == INT4 or _per_channel(w):
            return 4, "an int4 or per-channel quantized table"
    elif op == "DEQUANTIZE":
        x = _t(sg, operator, 0)
        if i0 == INT4:
            return 6, "int4 weights dequantized at run time"
        if i0 in (INT16, FLOAT16):
            return 3, f"{'int16' if i0 == INT16 else 'float16'} input"
        if i0 == INT8:
            return (5, "per-channel int8 input") if _per_channel(x) else (2, "int8 input")
    elif op == "QUANTIZE":
        if INT4 in (i0, o0):
            return 4, "int4 tensors"
        if _per_channel(_t(sg, operator, 0, outputs=True)):
            return 3, "per-channel output"
        if o0 == INT16:
            return 2, "int16 output"
    elif op == "GATHER":
        if i0 == INT4:
            return 7, "gathering from an int4 tensor"
        if i1 == INT16:
            return 6, "int16 indices"
        if i0 == INT16:
            return 4, "int16 params"
        if i0 == INT8:
            return 2, "int8 params"
    elif op == "TRANSPOSE":
        if i0 == INT4:
            return 7, "an int4 tensor"
        if i0 == INT16:
            return 5, "an int16 tensor"
        if i0 == INT8:
            return 2, "an int8 tensor"
    elif op == "BATCH_MATMUL":
        if i0 == INT16:
            return 3, "int16 activations"
        if i0 == INT8:
            return 2, "int8 activations"
    elif op in ("ADD", "MUL", "SUB"):
        if i0 == INT16 and op == "MUL":
            return 4, "int16 activations"
        if i0 == INT8:
            return 2, "int8 activations"
    elif op in _INT16_3_INT8_2:
        if i0 == INT16:
            return 3, "int16 activations"
        if i0 == INT8:
            return 2, "int8 activations"
    return None


def kernel_needs(model: fb.Model) -> list[KernelNeed]:
    """Operators whose tensors need a newer op version than declared, or a kernel no version marks; sorted."""
    merged: dict[tuple[str, int, int | None, str], int] = {}
    for sg in model.subgraphs:
        for operator in sg.operators:
            code = model.operator_codes[operator.opcode_index]
            op = BUILTIN_OPS.get(code.builtin_code)
            if op is None:
                continue
            got = implied_version(op, sg, operator)
            if got is None:
                continue
            version, feature = got
            if version is not None and version <= code.version:
                continue
            key = (op, code.version, version, feature)
            merged[key] = merged.get(key, 0) + 1
    return [KernelNeed(op, declared, implied, feature, n)
            for (op, declared, implied, feature), n in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0, kv[0][3]))]
