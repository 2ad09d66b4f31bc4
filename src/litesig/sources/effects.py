"""Which signatures of a SavedModel may be run by verification: read from the graph, never by running it.

An allow-list, not a deny-list: an op may run when TensorFlow's registry says it is stateless
(its outputs depend only on its inputs) and it is not one of the few stateless ops that read
files or run Python, or when it is one of the stateful ops whose state lives inside the model
(variables, lookup tables, tensor arrays, random generators, function calls whose bodies are
checked too). Everything else, including ops this TensorFlow does not know, makes the signature
"not run": a deny-list misses the next op that writes a file (PrintV2 to file:// did), an
allow-list only ever refuses too much, and says which op it refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Stateless by the registry, yet they read files or run Python.
_OUTSIDE_STATELESS = {
    "ReadFile": "reads a file",
    "MatchingFiles": "lists files",
    "ImmutableConst": "maps a file into memory",
    "LoadAndRemapMatrix": "reads a checkpoint",
    "PyFuncStateless": "runs Python (tf.numpy_function)",
}

# Stateful ops whose state is the model's own: running them touches nothing outside the process.
_IN_MODEL_STATE = frozenset({
    # variables
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "VariableShape",
    "VarIsInitializedOp", "DestroyResourceOp", "VariableV2", "Variable", "Assign", "AssignAdd", "AssignSub",
    "DisableCopyOnRead", "AssignVariableXlaConcatND", "ReadVariableXlaSplitND", "ScatterUpdate", "ScatterAdd", "ScatterSub",
    # calls and control flow (their bodies are in the function library and checked too)
    "StatefulPartitionedCall", "PartitionedCall", "While", "If", "Case", "For",
    # lookup tables
    "HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
    "AnonymousHashTable", "AnonymousMutableHashTable", "AnonymousMutableHashTableOfTensors", "AnonymousMutableDenseHashTable",
    "InitializeTableV2", "LookupTableImportV2", "LookupTableFindV2", "LookupTableSizeV2", "LookupTableInsertV2",
    "LookupTableExportV2", "LookupTableRemoveV2",
    # tensor arrays and stacks
    "TensorArrayV3", "TensorArrayWriteV3", "TensorArrayReadV3", "TensorArrayGatherV3", "TensorArrayScatterV3",
    "TensorArraySizeV3", "TensorArrayConcatV3", "TensorArraySplitV3", "TensorArrayCloseV3", "TensorArrayGradV3",
    "TensorArrayGradWithShape", "StackV2", "StackPushV2", "StackPopV2", "StackCloseV2",
    # random numbers and checks
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "Multinomial", "RandomShuffle",
    "RandomGamma", "RandomPoisson", "RandomPoissonV2", "ParameterizedTruncatedNormal", "RngReadAndSkip", "RngSkip",
    "StatefulUniform", "StatefulUniformInt", "StatefulUniformFullInt", "StatefulStandardNormalV2", "StatefulTruncatedNormal",
    "NonDeterministicInts", "Assert", "CheckNumerics", "CheckNumericsV2",
})
# Resource ops that update the model's own variables (optimizers, scatter updates, in-place slices).
_IN_MODEL_PREFIXES = ("Resource",)

_PRINT_STREAMS = (b"stderr", b"stdout", b"log(info)", b"log(warning)", b"log(error)")


def outside_effects(fn: Any) -> list[str]:
    """Why running a SavedModel signature function could touch files, the network, the environment or Python.

    Reads the function's graph and every function it calls; runs nothing. An empty list means it may
    run. A graph that cannot be read is reported as such (refused, never assumed clean).
    """
    try:
        graph_def = fn.graph.as_graph_def()
    except Exception as e:  # any failure to read the graph is a reason not to run it
        return [f"its graph could not be read ({type(e).__name__})"]
    nodes: list[Any] = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return effects_of(nodes)


def effects_of(nodes: Iterable[Any]) -> list[str]:
    """The outside effects of these NodeDefs, one line per op type (sorted)."""
    from tensorflow.python.framework import op_def_registry

    found: dict[str, str] = {}
    for node in nodes:
        op = node.op
        if op in found:
            continue
        why = _why(op, node, op_def_registry.get(op))
        if why:
            found[op] = why
    return [f"{op} ({why})" for op, why in sorted(found.items())]


def _why(op: str, node: Any, op_def: Any) -> str | None:
    if op in _OUTSIDE_STATELESS:
        return _OUTSIDE_STATELESS[op]
    if op == "PrintV2":  # tf.print: harmless to the process's own streams, a file write with file://
        stream = node.attr["output_stream"].s if "output_stream" in node.attr else b"stderr"
        return None if stream in _PRINT_STREAMS else f"prints to {stream.decode('utf-8', 'replace')[:200]}"
    if op_def is None:
        return "an op this TensorFlow does not know"
    if not op_def.is_stateful or op in _IN_MODEL_STATE or op.startswith(_IN_MODEL_PREFIXES):
        return None
    if op in ("PyFunc", "EagerPyFunc"):
        return "runs Python (tf.py_function)"
    if op in ("Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints", "WriteFile"):
        return "reads or writes files (a checkpoint save/restore)"
    return "stateful, and not known to be free of effects outside the model"
