"""Structural validation of a parsed .tflite before any byte of it reaches LiteRT.

The reader (flatbuffer.py) already refuses offsets, lengths and indices that point outside the
file or outside their tables. This pass checks what the reader can read but LiteRT would trip on:
tensor types and shapes, optional (-1) tensors where an operator needs one, constants written by
an operator, names a signature uses twice, and tensors too large to allocate (see _limits.py).
LiteRT still validates what it knows better (kernels' own input counts, buffer sizes); what a
check here cannot foresee is caught by running LiteRT in a child process first (_isolate.py).
"""

from __future__ import annotations

from . import flatbuffer as fb
from .._limits import MAX_RANK, max_signatures, max_tensor_bytes, mib, shape_bytes
from .schema import TENSOR_TYPES
from ..errors import NotATFLiteModel

# Bytes per element by TensorType code (sub-byte and variable-size types count as 1: an upper bound).
ITEMSIZE: dict[int, int] = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 1, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8,
                            13: 1, 14: 1, 15: 4, 16: 2, 17: 1, 18: 2, 19: 1, 20: 1, 21: 1, 22: 1}
CUSTOM = 32  # BuiltinOperator.CUSTOM: its inputs are its own business
MAX_LISTED = 10  # problems shown in one message; the rest are counted


def validate(model: fb.Model, source: str) -> None:
    """Raise NotATFLiteModel listing what would make LiteRT fail or crash on this model.

    Args:
        model: the parsed file (flatbuffer.read_model / parse).
        source: the file's name, for the message.
    """
    problems = list(problems_of(model))
    if problems:
        shown = problems[:MAX_LISTED]
        more = f"\n  - ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise NotATFLiteModel(f"{source}: corrupt or unsupported model, refused before loading it:"
                              + "".join(f"\n  - {p}" for p in shown) + more)


def problems_of(model: fb.Model) -> list[str]:
    """Every problem found, as one line each (stops collecting after a few hundred)."""
    out: list[str] = []
    if not model.subgraphs:
        out.append("the model has no subgraph")
    if len(model.signatures) > max_signatures():
        out.append(f"{len(model.signatures):,} signatures, more than {max_signatures():,} "
                   f"(LiteRT's loader slows down quadratically; raise the limit with LITESIG_MAX_SIGNATURES)")
        return out
    if why := fb.tail_problem(model):
        out.append(why)
    out += _call_problems(model)
    limit = max_tensor_bytes()
    for si, sg in enumerate(model.subgraphs):
        where_sg = f"subgraph {si}"
        constant = [bool(model.buffers[t.buffer].nbytes) for t in sg.tensors]
        for ti, t in enumerate(sg.tensors):
            if len(out) > 200:
                return out
            where = f"{where_sg} tensor {ti}"
            if t.type not in TENSOR_TYPES:
                out.append(f"{where} has tensor type {t.type}, which is not a TFLite type")
            if len(t.shape) > MAX_RANK or (t.shape_signature is not None and len(t.shape_signature) > MAX_RANK):
                out.append(f"{where} has rank {max(len(t.shape), len(t.shape_signature or ()))}, more than {MAX_RANK}")
                continue
            if any(d < 0 for d in t.shape):
                out.append(f"{where} has a negative size in its shape {list(t.shape)}")
            if t.shape_signature is not None:
                sig = t.shape_signature
                if any(d < -1 for d in sig):
                    out.append(f"{where} has a size below -1 in its shape signature {list(sig)}")
                elif len(sig) != len(t.shape) or any(s not in (-1, d) for s, d in zip(sig, t.shape)):
                    out.append(f"{where}: shape signature {list(sig)} contradicts its shape {list(t.shape)}")
            nbytes = shape_bytes(t.dims, ITEMSIZE.get(t.type, 1))
            if nbytes > limit:
                out.append(f"{where} declares {nbytes / 2**20:,.0f} MiB, over the limit of {mib(limit)} "
                           f"(raise it with LITESIG_MAX_TENSOR_MB)")
        for name, indices in (("input", sg.inputs), ("output", sg.outputs)):
            for i in indices:
                if name == "input" and constant[i]:
                    out.append(f"{where_sg} input tensor {i} is a constant")
        for oi, op in enumerate(sg.operators):
            if len(out) > 200:
                return out
            where = f"{where_sg} operator {oi}"
            code = model.operator_codes[op.opcode_index].builtin_code
            if code != CUSTOM and op.inputs and op.inputs[0] == -1:
                out.append(f"{where} has no first input (-1); only later inputs may be optional")
            for k, o in enumerate(op.outputs):
                if o == -1:
                    out.append(f"{where} output {k} is -1; outputs cannot be optional")
                elif constant[o]:
                    out.append(f"{where} writes tensor {o}, a constant")
                elif o in op.inputs:
                    out.append(f"{where} reads and writes tensor {o}")
    for s in model.signatures:
        if not s.key:
            out.append("a signature has no key: LiteRT runs signatures by key and cannot run this one")
        if "\0" in s.key:
            out.append(f"signature {_clip(s.key)!r} has a NUL character in its key, where LiteRT cuts it")
        for kind, maps in (("input", s.inputs), ("output", s.outputs)):
            names = [m.name for m in maps]
            tensors = model.subgraphs[s.subgraph_index].tensors if 0 <= s.subgraph_index < len(model.subgraphs) else []
            if any(0 <= m.tensor_index < len(tensors) and "\ufffd" in tensors[m.tensor_index].name for m in maps):
                out.append(f"signature {_clip(s.key)!r} has an {kind} tensor whose name is not UTF-8, which LiteRT's "
                           "Python API cannot read")
            if any("\0" in n for n in names):
                out.append(f"signature {_clip(s.key)!r} has an {kind} name with a NUL character, where LiteRT cuts it")
            if len(set(names)) != len(names):
                out.append(f"signature {_clip(s.key)!r} names two {kind}s the same")
        if len(out) > 200:
            return out
    keys = [s.key for s in model.signatures]
    if len(set(keys)) != len(keys):
        out.append("two signatures have the same key")
    return out


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


MAX_CALL_DEPTH = 32  # IF/WHILE/CALL_ONCE nesting; real models nest a few levels


def _call_problems(model: fb.Model) -> list[str]:
    """Subgraph calls (IF, WHILE, CALL_ONCE) that point outside the model, loop back, or nest past MAX_CALL_DEPTH.

    LiteRT prepares a called subgraph inside its caller's preparation: a chain of thousands costs
    gigabytes and minutes, and a loop never ends.
    """
    n = len(model.subgraphs)
    calls = [sorted({r for op in sg.operators for r in op.subgraph_refs}) for sg in model.subgraphs]
    out = [f"subgraph {i} calls subgraph {r}, the model has {n}" for i, refs in enumerate(calls) for r in refs if not 0 <= r < n]
    if out:
        return out[:10]
    depth = [0] * n  # longest chain of calls below each subgraph; -1 while on the path being explored
    for start in range(n):
        if depth[start] or not calls[start]:
            continue
        stack = [(start, iter(calls[start]))]
        depth[start] = -1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                depth[node] = 1 + max((depth[c] for c in calls[node]), default=0)
                if depth[node] > MAX_CALL_DEPTH:
                    return [f"subgraph {node} starts a chain of {depth[node]} nested subgraph calls (IF/WHILE/CALL_ONCE), "
                            f"more than {MAX_CALL_DEPTH}"]
            elif depth[child] == -1:
                return [f"subgraph {child} calls itself through IF/WHILE/CALL_ONCE (subgraph {node}): LiteRT would never finish"]
            elif depth[child] == 0 and calls[child]:
                depth[child] = -1
                stack.append((child, iter(calls[child])))
    return []
