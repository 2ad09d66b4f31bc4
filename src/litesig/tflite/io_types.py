"""Integer inputs and outputs per signature and per tensor: int8, uint8 or int16.

The TFLite converter's `inference_input_type`/`inference_output_type` apply to every input and
output of every signature at once (and its clean-up of dangling tensors rewrites only the first
SignatureDef). litesig instead converts with float I/O and then edits the graph at each chosen
input/output, the way TensorFlow's `modify_model_io_type` does, but per tensor:

- a float input that only feeds a QUANTIZE op: int8/int16 (the QUANTIZE's own type) drop the op
  and the signature points at its integer output; uint8 (on an int8 graph) keeps the op as a
  uint8 -> int8 requantization, zero point + 128, same scale;
- a float output made by DEQUANTIZE: the same in reverse (uint8: the DEQUANTIZE becomes a
  QUANTIZE int8 -> uint8);
- an input/output already integer (ai-edge-quantizer's static recipes): uint8 on an int8 tensor
  gets a QUANTIZE op of its own in front of (or after) it.

Signature names and keys are untouched: they map names to tensor indices, and only the
indices change. The edit goes through the flatbuffer object API that ai-edge-litert ships.
Limits: int16 I/O needs int16 activations (--optimize static-int16); an input that feeds a
float op (not quantized by the converter) cannot become an integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput, Problem

__all__ = ["set_io_dtypes"]
_QUANTIZE, _DEQUANTIZE = 114, 6  # BuiltinOperator codes
_TYPE = {"float32": 0, "int16": 7, "int8": 9, "uint8": 3}
_NAME = {v: k for k, v in _TYPE.items()}


def set_io_dtypes(content: bytes, wanted: Mapping[str, Mapping[str, Mapping[str, str]]], *, source: str = "convert") -> bytes:
    """Give the named signature inputs/outputs integer types; every problem is reported at once.

    Raises:
        InvalidInput: an input/output that cannot take the type asked for, and why.
    """
    if not wanted:
        return content
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    problems: list[Problem] = []
    for sig_def in model.signatureDefs or []:
        key = _text(sig_def.signatureKey)
        if key not in wanted:
            continue
        sg = model.subgraphs[sig_def.subgraphIndex]
        sg.inputs, sg.outputs = [int(i) for i in sg.inputs], [int(i) for i in sg.outputs]
        for op in sg.operators:
            op.inputs, op.outputs = [int(i) for i in op.inputs], [int(i) for i in op.outputs]
        for kind, maps in (("inputs", sig_def.inputs), ("outputs", sig_def.outputs)):
            asked = dict(wanted[key].get(kind, {}))
            for tm in maps:
                name = _text(tm.name)
                if name in asked:
                    why = (_input if kind == "inputs" else _output)(schema, model, sg, tm, _TYPE[asked.pop(name)])
                    if why:
                        problems.append(Problem(f"signatures.{key}.{kind}.{name}.io_dtype", why))
            for name in asked:
                problems.append(Problem(f"signatures.{key}.{kind}.{name}", "no such tensor in the converted signature"))
    if problems:
        raise InvalidInput(source, problems)
    import flatbuffers

    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _input(schema: Any, model: Any, sg: Any, tm: Any, want: int) -> str | None:
    index = tm.tensorIndex
    t = sg.tensors[index]
    if t.type == want:
        return None
    users = [op for op in sg.operators if index in op.inputs]
    if t.type == _TYPE["float32"]:
        if len(users) != 1 or _code(model, users[0]) != _QUANTIZE:
            ops = ", ".join(sorted({_op_name(schema, _code(model, op)) for op in users})) or "nothing"
            return (f"the converted input feeds {ops}, not one QUANTIZE op: the graph does not compute in integers here, "
                    "so it cannot take integer data")
        q = sg.tensors[users[0].outputs[0]]
        if q.type == want:  # drop the QUANTIZE: the signature reads its integer output directly
            sg.operators.remove(users[0])
            _repoint(sg, tm, index, users[0].outputs[0])
            q.name, t.name = t.name, _text(t.name) + "_float_unused"
            return None
        if want == _TYPE["uint8"] and q.type == _TYPE["int8"]:  # keep it as a uint8 -> int8 requantization
            t.type, t.quantization = want, _shifted(schema, q.quantization, 128)
            return None
        return _mismatch(want, q.type, "input")
    if want == _TYPE["uint8"] and t.type == _TYPE["int8"] and _per_tensor(t):
        new = _add_tensor(schema, sg, t, want, _shifted(schema, t.quantization, 128))
        sg.operators.insert(0, _op(schema, model, _QUANTIZE, [new], [index]))
        _repoint(sg, tm, index, new)
        return None
    return _mismatch(want, t.type, "input")


def _output(schema: Any, model: Any, sg: Any, tm: Any, want: int) -> str | None:
    index = tm.tensorIndex
    t = sg.tensors[index]
    if t.type == want:
        return None
    if t.type == _TYPE["float32"]:
        producer = next((op for op in sg.operators if index in op.outputs), None)
        if producer is None or _code(model, producer) != _DEQUANTIZE or any(index in op.inputs for op in sg.operators):
            return "the converted output is not made by a DEQUANTIZE op alone: the graph computes it in float"
        q_index = producer.inputs[0]
        q = sg.tensors[q_index]
        if q.type == want:  # drop the DEQUANTIZE: the signature reads its integer input directly
            sg.operators.remove(producer)
            _repoint(sg, tm, index, q_index)
            q.name, t.name = t.name, _text(t.name) + "_float_unused"
            return None
        if want == _TYPE["uint8"] and q.type == _TYPE["int8"]:
            producer.opcodeIndex = _opcode(schema, model, _QUANTIZE)
            t.type, t.quantization = want, _shifted(schema, q.quantization, 128)
            return None
        return _mismatch(want, q.type, "output")
    if want == _TYPE["uint8"] and t.type == _TYPE["int8"] and _per_tensor(t):
        new = _add_tensor(schema, sg, t, want, _shifted(schema, t.quantization, 128))
        sg.operators.append(_op(schema, model, _QUANTIZE, [index], [new]))
        _repoint(sg, tm, index, new)
        return None
    return _mismatch(want, t.type, "output")


def _mismatch(want: int, have: int, kind: str) -> str:
    have_name = _NAME.get(have, f"type {have}")
    if want == _TYPE["int16"] or have == _TYPE["int16"]:
        return (f"the graph computes this {kind} in {have_name}; {_NAME[want]} I/O needs {_NAME[want].replace('u', '')} activations "
                f"({'--optimize static-int16' if want == _TYPE['int16'] else '--optimize int8 or static-int8'})")
    return f"the graph computes this {kind} in {have_name}; it can become {have_name}" + (" or uint8" if have == _TYPE["int8"] else "")


def _per_tensor(t: Any) -> bool:
    q = t.quantization
    return q is not None and q.scale is not None and len(q.scale) == 1


def _shifted(schema: Any, q: Any, shift: int) -> Any:
    """The same scale with the zero point moved (int8 -> uint8: +128)."""
    out = schema.QuantizationParametersT()
    out.scale = [float(q.scale[0])]
    out.zeroPoint = [int(q.zeroPoint[0]) + shift if q.zeroPoint is not None and len(q.zeroPoint) else shift]
    return out


def _repoint(sg: Any, tm: Any, old: int, new: int) -> None:
    tm.tensorIndex = new
    sg.inputs = [new if i == old else i for i in sg.inputs]
    sg.outputs = [new if i == old else i for i in sg.outputs]


def _add_tensor(schema: Any, sg: Any, like: Any, type_code: int, quantization: Any) -> int:
    t = schema.TensorT()
    t.shape, t.shapeSignature = like.shape, like.shapeSignature
    t.type, t.quantization, t.buffer = type_code, quantization, 0
    t.name = _text(like.name) + f"_{_NAME[type_code]}"
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _op(schema: Any, model: Any, code: int, inputs: list[int], outputs: list[int]) -> Any:
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = _opcode(schema, model, code), inputs, outputs
    return op


def _opcode(schema: Any, model: Any, code: int) -> int:
    for i, c in enumerate(model.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
            return i
    oc = schema.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def _code(model: Any, op: Any) -> int:
    c = model.operatorCodes[op.opcodeIndex]
    return int(max(c.builtinCode, c.deprecatedBuiltinCode))


def _op_name(schema: Any, code: int) -> str:
    return next((k for k, v in vars(schema.BuiltinOperator).items() if v == code and not k.startswith("_")), str(code))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
