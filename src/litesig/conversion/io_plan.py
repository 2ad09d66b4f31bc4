"""Which integer type each signature input and output should have: the spec's io_dtype and the flags.

The edit itself is the file's concern (tflite.io_types.set_io_dtypes); this module turns what the
user asked for into the per-tensor table it takes.
"""

from __future__ import annotations

from ..errors import InvalidInput, Problem
from ..sources.spec import IO_DTYPES, Spec

Wanted = dict[str, dict[str, dict[str, str]]]  # signature -> "inputs"/"outputs" -> name -> dtype


def wanted_io_dtypes(spec: Spec) -> Wanted:
    """Per signature, the integer type each input/output should have (a tensor's io_dtype, else the signature's)."""
    out: Wanted = {}
    for sig in spec.signatures:
        default = sig.io_dtype
        ins = {i.name: d for i in sig.inputs if (d := i.io_dtype or default) and d != "float32"}
        outs = {o.name: d for o in sig.outputs if (d := o.io_dtype or default) and d != "float32"}
        if ins or outs:
            out[sig.name] = {"inputs": ins, "outputs": outs}
    return out


def io_problems(spec: Spec, optimize: str) -> list[Problem]:
    """io_dtype needs integer activations: the converter's int8 or ai-edge-quantizer's static modes."""
    wanted = wanted_io_dtypes(spec)
    if not wanted or optimize in ("int8", "static-int8", "static-int16"):
        return []
    where = next(iter(wanted))
    return [Problem(f"signatures.{where}", f"integer inputs/outputs (io_dtype, --input-dtype, --output-dtype) need integer "
                                           f"activations: use --optimize int8, static-int8 or static-int16 (not {optimize!r})")]


def with_flag_io_dtypes(spec: Spec, input_dtype: str | None, output_dtype: str | None) -> Spec:
    """--input-dtype / --output-dtype: the type of every input / output of every signature (over the spec's io_dtype)."""
    from dataclasses import replace

    problems = [Problem(flag, f"unknown I/O type {value!r}; expected one of {', '.join(IO_DTYPES)}")
                for flag, value in (("--input-dtype", input_dtype), ("--output-dtype", output_dtype))
                if value is not None and value not in IO_DTYPES]
    if problems:
        raise InvalidInput(spec.source, problems)
    if input_dtype is None and output_dtype is None:
        return spec
    signatures = tuple(
        replace(sig,
                inputs=tuple(replace(i, io_dtype=input_dtype or i.io_dtype) for i in sig.inputs),
                outputs=tuple(replace(o, io_dtype=output_dtype or o.io_dtype) for o in sig.outputs))
        for sig in spec.signatures)
    return replace(spec, signatures=signatures)
