"""Merging .tflite files, proven: every signature of the merged bytes runs bit-identical to its source.

The bytes are built by `tflite.merge`; this module runs each signature of the result and of the
file it came from on the same inputs (at two sets of dynamic sizes) before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from .._io import captured_stderr, check_writable, write_atomic
from ..errors import LitesigError, VerificationFailed
from ..runtimes.inputs import sample_inputs
from ..runtimes.interpreter import Runner
from ..tflite.merge import Merged, MergeResult, SignatureCheck, build
from .reference_tflite import run_main_subgraph


def merge(
    models: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    renames: Mapping[tuple[str, str | None], str] | None = None,
    metadata_from: int = 0,
    check: bool = True,
    force: bool = False,
) -> MergeResult:
    """Merge .tflite files into one with every signature of each.

    Args:
        models: the input files (two or more).
        output: the .tflite to write (atomically; refused if it exists unless `force`).
        renames: {(input, old signature): new signature}; input is the file's stem, its path as
            given, or its 1-based position. (input, None) names the main subgraph of an input
            that has no signatures (required for such inputs).
        metadata_from: 0-based index of the input whose metadata and associated files are kept.
        check: run every signature on the merged bytes and on its source before writing.

    Raises:
        InvalidInput: unreadable inputs, unknown or clashing names (every problem listed); nothing written.
        VerificationFailed: a signature does not give bit-identical outputs; nothing written.
    """
    out_path = check_writable(output, force=force, inputs=models)
    merged = build(models, renames=renames, metadata_from=metadata_from)
    checks = check_signatures(merged, f"{out_path} (merged)") if check else []
    bad = [c for c in checks if not c.identical]
    if bad:
        raise VerificationFailed(f"{out_path} was not written: " + "; ".join(f"signature {c.signature!r}: {c.detail}" for c in bad))
    write_atomic(out_path, merged.content, replace=force)  # without force, a file created meanwhile is not overwritten
    return merged.result(out_path, checks)


_SIZES = ((1, 1), (2, 3))


def check_signatures(merged: Merged, label: str) -> list[SignatureCheck]:
    """Run each signature of the merged bytes and of its source on the same inputs: identical or not, and why."""
    inputs, plan, content = merged.inputs, merged.plan, merged.content
    with captured_stderr():
        merged_runner = Runner(content, num_threads=1, name=label)
    checks = []
    runners: dict[int, Runner] = {}
    for k, source_sig, ios, name in plan:
        src = inputs[k]
        details = merged_runner.input_details(name)
        sizes, detail, identical = [], "", True
        for batch, dynamic in _SIZES:
            feed = sample_inputs(details, batch=batch, dynamic=dynamic, rng=np.random.default_rng(batch))
            try:
                if source_sig is not None:
                    if k not in runners:
                        runners[k] = Runner(src.content, num_threads=1, name=str(src.path))
                    ref = runners[k].run(feed, signature=source_sig)
                else:
                    outs = run_main_subgraph(src.content, [feed[n] for n, _ in ios[0]], num_threads=1)
                    ref = {n: v for (n, _), v in zip(ios[1], outs)}
            except LitesigError:
                continue  # the source itself does not run at these sizes: nothing to compare
            sizes.append(f"batch {batch}, other dynamic dims {dynamic}")
            try:
                got = merged_runner.run(feed, signature=name)
            except LitesigError as e:
                identical, detail = False, f"the source runs, the merged file does not: {e}"
                break
            for out, value in ref.items():
                other = got.get(out)
                if other is None or other.dtype != value.dtype or other.shape != value.shape or \
                        not np.array_equal(other, value, equal_nan=value.dtype.kind in "fc"):
                    identical, detail = False, f"output {out!r} differs at batch {batch}"
                    break
        if not sizes:
            identical, detail = False, "the source did not run at any size tried (" + \
                "; ".join(f"batch {b}, other dynamic dims {d}" for b, d in _SIZES) + ")"
        checks.append(SignatureCheck(name, str(src.path), source_sig, sizes, identical, detail))
    return checks
