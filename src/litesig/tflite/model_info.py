"""What `inspect` returns, computed from the flatbuffer alone (no TensorFlow, no LiteRT, no numpy).

Rendering (tables, JSON) lives in the CLI; this module only computes.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import flatbuffer as fb
from .._records import plain
from .app_runtimes import AppRuntimeFit, predict
from .schema import BUILTIN_OPS, TENSOR_TYPES
from .runtime_compat import RuntimeRequirement, parse_target, requirement, runtime_warnings
from .precision import Precision, read_precision

CUSTOM = 32  # BuiltinOperator.CUSTOM

_GENERIC = re.compile(
    r"^(serving_default(_.*)?|input(_layer)?(_\d+)?|output(_\d+)?|args?_\d+|inputs?|outputs?|x|y"
    r"|StatefulPartitionedCall(_\d+)?(:\d+)?|PartitionedCall(:\d+)?|Identity(_\d+)?(:\d+)?|keras_tensor(_\d+)?"
    r"|\d+|[A-Za-z_][A-Za-z0-9_]*\.\d+|onnx::.*)$"  # ONNX exporters: "13", "x.1", "input.1", "onnx::Gemm_7"
)


class QuantInfo(NamedTuple):
    """Quantization of a tensor: one scale/zero point, or a per-axis summary."""

    scale: float | None
    zero_point: int | None
    per_axis: bool = False
    axis: int | None = None
    channels: int = 1
    scale_min: float | None = None
    scale_max: float | None = None


class TensorInfo(NamedTuple):
    name: str  # the signature's name for it
    dtype: str
    shape: list[int]  # dynamic dims as -1
    tensor: str  # the tensor's own name in the graph
    index: int  # type: ignore[assignment]  # the record's field, in place of tuple.index
    quantization: QuantInfo | None


class SignatureInfo(NamedTuple):
    name: str
    subgraph: int
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


class SubgraphInfo(NamedTuple):
    index: int  # type: ignore[assignment]  # the record's field, in place of tuple.index
    name: str
    tensors: int
    operators: int
    inputs: list[str]
    outputs: list[str]


class Warning(NamedTuple):  # noqa: A001 - the word users read
    code: str
    message: str
    fix: str


class ModelInfo(NamedTuple):
    """Everything `litesig inspect` reports about a .tflite file."""

    path: str
    size_bytes: int
    version: int
    signatures: dict[str, SignatureInfo]  # in the order stored in the file
    ops: dict[str, int]  # op name -> count, most used first
    custom_ops: list[str]
    flex_ops: list[str]
    subgraphs: list[SubgraphInfo]
    tensors: int
    weights_bytes: int
    graph_bytes: int
    description: str | None
    metadata: list[str]
    precision: str = "none"  # the tolerance mode: none | float16 | weight-only-int8/4 | dynamic-int8/4 | int8 | int16
    precision_detail: Precision | None = None  # weights, activations and I/O types, as the file holds them
    model_name: str | None = None  # from TFLite Support metadata, where present
    model_description: str | None = None
    warnings: Sequence[Warning] = ()
    main_subgraph: SignatureInfo | None = None  # no signatures: subgraph 0's inputs/outputs in order (what --add-signature names)
    appended_bytes: int = 0  # after the model's last byte: associated files (a zip), padding or anything else
    runtime: RuntimeRequirement | None = None  # op versions, the minimum runtime, the converter's min_runtime_version
    app_runtimes: Sequence[AppRuntimeFit] = ()  # predicted: what the GPU, the web, MediaPipe refuse

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of `litesig inspect --json`."""
        return plain(self)


def inspect(model: str | os.PathLike[str] | bytes, *, target_runtime: str | None = None) -> ModelInfo:
    """Read a .tflite file's signatures, tensors, ops, sizes and warnings, without TensorFlow.

    Args:
        model: a path (memory-mapped; weights are never read) or the file's bytes.
        target_runtime: the LiteRT/TensorFlow Lite release the app ships (e.g. "2.14"): warn about every
            op version it lacks. Without it, inspect warns when the file needs a runtime newer than
            runtime_compat.BASELINE.

    Raises:
        NotATFLiteModel: not a TFLite model, or corrupt.
    """
    target_runtime = parse_target(target_runtime)
    m = fb.read_model(model)
    path = os.fspath(model) if not isinstance(model, (bytes, bytearray, memoryview)) else f"<{len(model)} bytes>"

    signatures = {s.key: _signature(m, s) for s in m.signatures}
    ops: Counter[str] = Counter()
    custom: list[str] = []
    flex: list[str] = []
    for sg in m.subgraphs:
        for op in sg.operators:
            name = _op_name(m.operator_codes[op.opcode_index])
            ops[name] += 1
    for code in m.operator_codes:
        if code.builtin_code == CUSTOM and code.custom_code:
            (flex if code.custom_code.startswith("Flex") else custom).append(code.custom_code)
    weights = sum(b.nbytes for b in m.buffers)
    support = _support_metadata(model, m)
    detail = read_precision(m)
    info = ModelInfo(
        path=path,
        size_bytes=m.size,
        version=m.version,
        signatures=signatures,
        ops=dict(ops.most_common()),
        custom_ops=sorted(set(custom)),
        flex_ops=sorted(set(flex)),
        subgraphs=[
            SubgraphInfo(i, sg.name, len(sg.tensors), len(sg.operators),
                         [sg.tensors[t].name for t in sg.inputs], [sg.tensors[t].name for t in sg.outputs])
            for i, sg in enumerate(m.subgraphs)
        ],
        tensors=sum(len(sg.tensors) for sg in m.subgraphs),
        weights_bytes=weights,
        graph_bytes=max(0, m.extent - weights),
        appended_bytes=m.size - m.extent,
        description=m.description,
        metadata=[md.name for md in m.metadata],
        precision=detail.mode,
        precision_detail=detail,
        model_name=support.get("model_name"),
        model_description=support.get("model_description"),
        main_subgraph=_main_subgraph(m) if not signatures and m.subgraphs else None,
        runtime=(runtime := requirement(m, model, target=target_runtime)),
    )
    warnings = _warnings(info, m) + [Warning(code, message, fix) for code, message, fix in runtime_warnings(runtime)]
    float_inputs = ([m.subgraphs[0].tensors[i].name for i in m.subgraphs[0].inputs if m.subgraphs[0].tensors[i].type in (0, 1)]
                    if m.subgraphs else [])
    fits = predict(signatures, subgraphs=len(m.subgraphs), flex_ops=info.flex_ops, custom_ops=info.custom_ops,
                   metadata=info.metadata, float_inputs=float_inputs, normalized=support.get("normalized"))
    return info._replace(warnings=warnings, app_runtimes=fits)


def _main_subgraph(m: fb.Model) -> SignatureInfo:
    sg = m.subgraphs[0]
    return SignatureInfo(name="(subgraph 0)", subgraph=0, inputs={sg.tensors[t].name: _tensor_info(sg.tensors[t].name, sg, t) for t in sg.inputs},
                         outputs={sg.tensors[t].name: _tensor_info(sg.tensors[t].name, sg, t) for t in sg.outputs})


def precision(m: fb.Model) -> str:
    """The tolerance mode the file's contents call for (see precision.read_precision for the full reading)."""
    return read_precision(m).mode


def dtype_name(type_code: int) -> str:
    return TENSOR_TYPES.get(type_code, f"type_{type_code}").lower()


def _op_name(code: fb.OperatorCode) -> str:
    if code.builtin_code == CUSTOM:
        return code.custom_code or "CUSTOM"
    return BUILTIN_OPS.get(code.builtin_code, f"BUILTIN_{code.builtin_code}")


def _tensor_info(name: str, sg: fb.SubGraph, index: int) -> TensorInfo:
    t = sg.tensors[index]
    return TensorInfo(name=name, dtype=dtype_name(t.type), shape=list(t.dims), tensor=t.name, index=index,
                      quantization=_quant(t.quantization))


def _quant(q: fb.Quantization | None) -> QuantInfo | None:
    if q is None:
        return None
    if len(q.scale) == 1:
        return QuantInfo(scale=q.scale[0], zero_point=q.zero_point[0] if q.zero_point else 0)
    if not q.scale:  # blockwise: the scales are another tensor
        return QuantInfo(scale=None, zero_point=None, per_axis=True, axis=q.quantized_dimension, channels=0)
    return QuantInfo(scale=None, zero_point=None, per_axis=True, axis=q.quantized_dimension, channels=len(q.scale),
                     scale_min=min(q.scale), scale_max=max(q.scale))


def _signature(m: fb.Model, s: fb.SignatureDef) -> SignatureInfo:
    sg = m.subgraphs[s.subgraph_index]
    return SignatureInfo(
        name=s.key,
        subgraph=s.subgraph_index,
        inputs={tm.name: _tensor_info(tm.name, sg, tm.tensor_index) for tm in s.inputs},
        outputs={tm.name: _tensor_info(tm.name, sg, tm.tensor_index) for tm in s.outputs},
    )


def _support_metadata(model: str | os.PathLike[str] | bytes, m: fb.Model) -> dict[str, Any]:
    """From TFLite Support metadata ("TFLITE_METADATA"), where present: model name and description, and whether
    subgraph 0's inputs carry normalization (a process unit of NormalizationOptions) and its first output labels."""
    data = fb.metadata_bytes(m, model, "TFLITE_METADATA", max_size=16 * 1024 * 1024)
    if data is None:
        return {}
    try:
        b = fb._Buf(data)
        t = fb._Table(b, b.uoffset(0, "metadata root"), "TFLITE_METADATA")
        out: dict[str, Any] = {"model_name": t.string(0, "metadata.name"), "model_description": t.string(1, "metadata.description")}
        subgraphs = t.tables(3, "metadata.subgraph_metadata")
        if subgraphs:
            inputs = subgraphs[0].tables(2, "input_tensor_metadata")
            out["normalized"] = [any(int(u.scalar(0, fb._U8)) == 1 for u in tm.tables(4, "process_units")) for tm in inputs]
            outputs = subgraphs[0].tables(3, "output_tensor_metadata")
            out["labelled"] = bool(outputs) and any(int(f.scalar(2, fb._U8)) == 2 for f in outputs[0].tables(6, "associated_files"))
        return out
    except fb.NotATFLiteModel:
        return {}  # unreadable support metadata is not a reason to refuse the model


def _warnings(info: ModelInfo, m: fb.Model) -> list[Warning]:
    w: list[Warning] = []
    from .validate import problems_of

    refused = problems_of(m)  # what run/bench/verify/codegen would refuse before LiteRT sees the file
    if refused:
        more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
        w.append(Warning("refused", "litesig refuses to give this file to LiteRT, which could fail or crash on it: "
                         + "; ".join(refused[:5]) + more, "rebuild the file with a converter; it is malformed or unsupported"))
    if not info.signatures:
        main = info.main_subgraph
        ins = ",".join(f"in{i}" for i in range(len(main.inputs))) if main else "a"
        outs = ",".join(f"out{i}" for i in range(len(main.outputs))) if main else "b"
        w.append(Warning("no_signatures", "the model has no signatures: apps cannot call runSignature and tools cannot name its inputs",
                         f"add one: litesig rename model.tflite -o out.tflite --add-signature NAME --inputs {ins} --outputs {outs}"))
    elif list(info.signatures) == ["serving_default"]:
        w.append(Warning("generic_signature", "the only signature is 'serving_default', the converter's default: app code will not say what it calls",
                         "litesig rename model.tflite -o out.tflite --signature serving_default=<what_it_does>"))
    for sig in info.signatures.values():
        for kind, tensors in (("input", sig.inputs), ("output", sig.outputs)):
            for t in tensors.values():
                where = f"{sig.name}.{kind}s.{t.name}"
                if _GENERIC.match(t.name):
                    w.append(Warning("generic_name", f"{where}: {t.name!r} is a generated name, not one an app would choose",
                                     f"litesig rename model.tflite -o out.tflite --{kind} {sig.name}:{t.name}=<meaningful_name>"))
                if t.dtype in ("float64", "int64"):
                    w.append(Warning("wide_dtype", f"{where} is {t.dtype}: many delegates and mobile APIs handle only 32-bit types",
                                     "cast to float32/int32 in the model before converting"))
                if kind == "input" and t.dtype in ("int8", "uint8") and t.quantization is None:
                    w.append(Warning("int8_without_quantization", f"{where} is {t.dtype} with no scale/zero point: the app cannot know how to quantize its data",
                                     "reconvert with float inputs, or with int8 quantization from calibration data"))
            if kind == "input":
                for t in tensors.values():
                    _shape_warnings(w, f"{sig.name}.inputs.{t.name}", t.shape)
    if info.flex_ops:
        w.append(Warning("flex_ops", f"select-TF (Flex) ops {', '.join(info.flex_ops)}: the app needs the select-TF-ops runtime (adds several MB)",
                         "add org.tensorflow:tensorflow-lite-select-tf-ops (Android) or replace the ops with builtin ones"))
    if info.custom_ops:
        w.append(Warning("custom_ops", f"custom ops {', '.join(info.custom_ops)}: the app must register their kernels",
                         "provide and register the kernels, or convert without them"))
    if ("READ_VARIABLE" in info.ops or "VAR_HANDLE" in info.ops) and "ASSIGN_VARIABLE" not in info.ops:
        w.append(Warning("uninitialised_variables", "READ_VARIABLE/VAR_HANDLE ops and nothing that assigns them: the weights are read from "
                         "uninitialised memory (NaN or garbage outputs; the textbook tf.Module recipe on Keras 3 does this)",
                         "reconvert with litesig convert, which tracks the variables so the converter freezes them"))
    return w


def _shape_warnings(w: list[Warning], where: str, shape: list[int]) -> None:
    if len(shape) >= 2 and shape[0] == 1:
        w.append(Warning("fixed_batch", f"{where} has a fixed batch of 1 {shape}: the app cannot batch without reconverting",
                         "if batching was meant, give the batch dim as -1 (e.g. shape = [-1, ...] in the spec)"))
    if any(d == -1 for d in shape[1:]):
        w.append(Warning("dynamic_shape", f"{where} has dynamic dimensions beyond the batch {shape}: the app must resize before every call and the GPU delegate may refuse it",
                         "fix those dimensions in the spec if the app always uses one size"))
