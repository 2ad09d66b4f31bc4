"""A structure-aware builder of hostile .tflite files, without TensorFlow.

`tiny_model()` is a valid one-op model (y = x + x, float32 [1, 4], signature "serve") built with
ai-edge-litert's schema object API; each case in `CASES` mutates it into a file that must be
refused cleanly (or handled) by every command.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

FLOAT32 = schema.TensorType.FLOAT32


def _tensor(name: str, shape: list[int], buffer: int = 0, *, dtype: int = FLOAT32, signature: list[int] | None = None) -> schema.TensorT:
    t = schema.TensorT()
    t.name, t.shape, t.buffer, t.type = name, list(shape), buffer, dtype
    if signature is not None:
        t.shapeSignature = list(signature)
    return t


def _map(name: str, index: int) -> schema.TensorMapT:
    tm = schema.TensorMapT()
    tm.name, tm.tensorIndex = name, index
    return tm


def tiny_object(*, input_name: str = "x", output_name: str = "y", key: str = "serve", shape: list[int] | None = None,
                signature: list[int] | None = None) -> schema.ModelT:
    """The valid model, as an object to mutate."""
    m = schema.ModelT()
    m.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    m.operatorCodes = [code]
    m.buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    sg = schema.SubGraphT()
    shape = shape or [1, 4]
    sg.tensors = [_tensor("x_t", shape, 1, signature=signature), _tensor("y_t", shape, 2, signature=signature)]
    sg.inputs, sg.outputs = [0], [1]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0], [1]
    op.builtinOptionsType = schema.BuiltinOptions.AddOptions
    op.builtinOptions = schema.AddOptionsT()
    sg.operators = [op]
    sg.name = "main"
    m.subgraphs = [sg]
    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = key, 0
    sig.inputs, sig.outputs = [_map(input_name, 0)], [_map(output_name, 1)]
    m.signatureDefs = [sig]
    return m


def to_bytes(m: schema.ModelT) -> bytes:
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def tiny_model(**kw) -> bytes:
    return to_bytes(tiny_object(**kw))


def _mutate(fn: Callable[[schema.ModelT], object]) -> bytes:
    m = copy.deepcopy(tiny_object())
    fn(m)
    return to_bytes(m)


def _set(path: str, value: object) -> Callable[[schema.ModelT], None]:
    def apply(m: schema.ModelT) -> None:
        obj: object = m
        parts = path.split(".")
        for p in parts[:-1]:
            obj = obj[int(p)] if p.isdigit() else getattr(obj, p)  # type: ignore[index]
        last = parts[-1]
        if last.isdigit():
            obj[int(last)] = value  # type: ignore[index]
        else:
            setattr(obj, last, value)
    return apply


def _call_chain(n: int, *, loop: bool = False) -> Callable[[schema.ModelT], None]:
    """Subgraph 0 CALL_ONCEs subgraph 1, which CALL_ONCEs 2, ... n (or, with loop, the last calls subgraph 1 again)."""
    def apply(m: schema.ModelT) -> None:
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = schema.BuiltinOperator.CALL_ONCE, 127, 1
        m.operatorCodes.append(code)
        call = len(m.operatorCodes) - 1

        def call_op(target: int) -> schema.OperatorT:
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = call, [], []
            op.builtinOptionsType = schema.BuiltinOptions.CallOnceOptions
            op.builtinOptions = schema.CallOnceOptionsT()
            op.builtinOptions.initSubgraphIndex = target
            return op

        m.subgraphs[0].operators.insert(0, call_op(1))
        for k in range(1, n + 1):
            sg = schema.SubGraphT()
            sg.name, sg.tensors, sg.inputs, sg.outputs = f"init{k}", [], [], []
            target = k + 1 if k < n else (1 if loop else None)
            sg.operators = [call_op(target)] if target is not None else []
            m.subgraphs.append(sg)
    return apply


def _many_signatures(n: int) -> Callable[[schema.ModelT], None]:
    def apply(m: schema.ModelT) -> None:
        base = m.signatureDefs[0]
        sigs = []
        for i in range(n):
            s = schema.SignatureDefT()
            s.signatureKey, s.subgraphIndex = f"s{i}", 0
            s.inputs, s.outputs = [_map("x", 0)], [_map("y", 1)]
            sigs.append(s)
        m.signatureDefs = [base, *sigs]
    return apply


def _no_signature(m: schema.ModelT) -> None:
    m.signatureDefs = []


def _bytes_patch(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


ESC_NAME = "x\x1b]8;;http://evil\x07click\x1b]8;;\x07\x1b[2J\r\u202e\x9b"

# name -> bytes. Structural cases first, then names.
CASES: dict[str, Callable[[], bytes]] = {
    "valid": tiny_model,
    "sig_subgraph_7": lambda: _mutate(_set("signatureDefs.0.subgraphIndex", 7)),
    "op_inputs_all_optional": lambda: _mutate(_set("subgraphs.0.operators.0.inputs", [-1, -1])),
    "op_input_out_of_range": lambda: _mutate(_set("subgraphs.0.operators.0.inputs", [0, 99])),
    "op_output_optional": lambda: _mutate(_set("subgraphs.0.operators.0.outputs", [-1])),
    "op_no_outputs": lambda: _mutate(_set("subgraphs.0.operators.0.outputs", [])),
    "op_no_inputs": lambda: _mutate(_set("subgraphs.0.operators.0.inputs", [])),
    "opcode_index_5": lambda: _mutate(_set("subgraphs.0.operators.0.opcodeIndex", 5)),
    "builtin_code_unknown": lambda: _mutate(_set("operatorCodes.0.builtinCode", 9999)),
    "tensor_buffer_99": lambda: _mutate(_set("subgraphs.0.tensors.0.buffer", 99)),
    "subgraph_input_minus_1": lambda: _mutate(_set("subgraphs.0.inputs", [-1])),
    "subgraph_output_77": lambda: _mutate(_set("subgraphs.0.outputs", [77])),
    "map_tensor_55": lambda: _mutate(_set("signatureDefs.0.inputs.0.tensorIndex", 55)),
    "negative_dim": lambda: _mutate(_set("subgraphs.0.tensors.0.shape", [1, -5])),
    "huge_shape": lambda: tiny_model(shape=[1, 100000, 30000]),
    "huge_dynamic_shape": lambda: tiny_model(shape=[1, 100000, 30000], signature=[-1, 100000, 30000]),
    "overflow_shape": lambda: tiny_model(shape=[2**31 - 1, 2**31 - 1, 2**31 - 1]),
    "rank_100": lambda: tiny_model(shape=[1] * 100),
    "shape_4m_dims": lambda: tiny_model(shape=[1] * 4_000_000),
    "type_100": lambda: _mutate(_set("subgraphs.0.tensors.0.type", 100)),
    "dtype_mismatch": lambda: _mutate(_set("subgraphs.0.tensors.1.type", schema.TensorType.INT8)),
    "const_buffer_wrong_size": lambda: _mutate(_const_input),
    "no_subgraphs": lambda: _mutate(_set("subgraphs", [])),
    "no_signatures": lambda: _mutate(_no_signature),
    "two_sigs_same_key": lambda: _mutate(lambda m: (_many_signatures(1)(m), _dup_key(m))),
    "signature_without_key": lambda: _mutate(_set("signatureDefs.0.signatureKey", None)),
    "many_signatures_2000": lambda: _mutate(_many_signatures(2000)),
    "call_once_chain_3000": lambda: _mutate(_call_chain(3000)),
    "call_once_loop": lambda: _mutate(_call_chain(3, loop=True)),
    "call_once_chain_3_ok": lambda: _mutate(_call_chain(3)),
    "truncated": lambda: tiny_model()[:-40],
    "bad_identifier": lambda: _bytes_patch(tiny_model(), b"TFL3", b"TFL9"),
    "empty": lambda: b"",
    "self_loop_op": lambda: _mutate(_set("subgraphs.0.operators.0.inputs", [1, 1])),
    "input_is_output": lambda: _mutate(_set("subgraphs.0.outputs", [0])),
    # names
    "name_escapes": lambda: tiny_model(input_name=ESC_NAME, output_name="y\x1b[31m", key="k\x1b[0m"),
    "name_markup": lambda: tiny_model(input_name="[/]", output_name="[bold red]x[/]", key="[/][link=x]"),
    "name_python_kwargs": lambda: tiny_model(input_name="self", output_name="file"),
    "name_allow_pickle": lambda: tiny_model(output_name="allow_pickle"),
    "name_slash": lambda: tiny_model(input_name="a/b", output_name="../../etc/passwd"),
    "name_empty": lambda: tiny_model(input_name="", output_name=""),
    "name_bidi": lambda: tiny_model(key="serve\u202egnp.exe\u2066", output_name="\u2067y"),
    "name_big": lambda: tiny_model(key="k" * 2_000_000),
    "name_nul": lambda: tiny_model(input_name="a\x00b", output_name="c\x00"),
    "name_invalid_utf8": lambda: _bytes_patch(tiny_model(key="SERVEKEY"), b"SERVEKEY", b"SE\xff\xfeRVE\x80"),
    "name_same_input_output": lambda: tiny_model(input_name="z", output_name="z"),
}


def _dup_key(m: schema.ModelT) -> None:
    m.signatureDefs[1].signatureKey = m.signatureDefs[0].signatureKey


def _const_input(m: schema.ModelT) -> None:
    m.buffers[1].data = [1, 2, 3]  # 3 bytes for a float32[1, 4] tensor
