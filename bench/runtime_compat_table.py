"""The README's runtime-compatibility table: the seed example in every optimize mode x runtime.

For each build: the minimum runtime inspect computes, inspect's prediction for each runtime,
and, for every runtime environment given, what that runtime really does (loads? outputs within
1e-4 of ai-edge-litert's, int8 builds within 1e-2?).

Usage:
    python bench/runtime_compat_table.py [--runtime NAME=PYTHON ...] [--out bench/results/runtime_compat.json]

Without --runtime, tflite-runtime 2.14 is set up (cached) by litesig.runtimes.legacy. Any python
whose environment has tflite_runtime, ai_edge_litert or tensorflow can be given, e.g.
`--runtime tf-2.16.2=/tmp/tf216/bin/python` (see the README for how the table was measured).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runtime", action="append", default=[], metavar="NAME=PYTHON")
    p.add_argument("--predict", default="2.10,2.14,2.16,2.17", help="releases to predict for")
    p.add_argument("--out", type=Path, default=HERE / "results" / "runtime_compat.json")
    args = p.parse_args()

    import litesig
    from litesig.cli.demo import build_models
    from litesig.runtimes.legacy import ensure_runtime, run_legacy
    from litesig.tflite.model_info import inspect
    from litesig.runtimes.inputs import sample_inputs
    from litesig.runtimes.interpreter import Runner

    runtimes = dict(r.split("=", 1) for r in args.runtime) or {"tflite-runtime 2.14.0": str(ensure_runtime())}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build_models(d)
        calib = d / "calib.npz"
        np.savez(calib, x_input=np.random.default_rng(0).uniform(-1, 1, (8, 128, 3)).astype(np.float32))
        builds = [(m, None) for m in ("none", "float16", "dynamic-int8", "int8")]
        builds += [("dynamic-int8", t) for t in ("2.10", "2.14", "2.16")]
        for mode, target in builds:
            out = d / f"{mode}_{target}.tflite"
            litesig.convert(d / "litesig.toml", out, optimize=mode, target_runtime=target,
                            calibration=calib if mode == "int8" else None)
            req = inspect(out).runtime
            assert req is not None
            runner = Runner(out)
            feed = {s: sample_inputs(runner.input_details(s), batch=2, dynamic=2, rng=np.random.default_rng(0)) for s in runner.signatures}
            current = {s: runner.run(f, signature=s) for s, f in feed.items()}
            row = {"build": f"--optimize {mode}" + (f" --target-runtime {target}" if target else ""), "min_runtime": req.min_runtime,
                   "metadata_min_runtime": req.metadata_min_runtime,
                   "ops_above_2.14": [f"{b.op} v{b.version}" for b in req.blockers("2.14")],
                   "predicted": {r: req.loads_on(r) for r in args.predict.split(",")}, "measured": {}}
            for name, python in runtimes.items():
                run = run_legacy(Path(python), out, feed)
                diff = None
                if run.loaded and run.outputs:
                    diff = max(float(np.abs(run.outputs[s][k].astype(np.float64) - v).max()) for s, o in current.items() for k, v in o.items())
                row["measured"][name] = {"runtime": run.runtime, "loaded": run.loaded, "max_abs_diff_vs_ai_edge_litert": diff,
                                         "error": (run.error or "")[:160] or None}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    names = list(runtimes)
    print("| build | min runtime | " + " | ".join(f"predicted {r}" for r in args.predict.split(",")) + " | "
          + " | ".join(f"measured {n}" for n in names) + " |")
    print("|" + "---|" * (2 + len(args.predict.split(",")) + len(names)))
    for row in rows:
        pred = ["loads" if row["predicted"][r] else "refused" for r in args.predict.split(",")]
        meas = []
        for n in names:
            m = row["measured"][n]
            meas.append(f"loads, max diff {m['max_abs_diff_vs_ai_edge_litert']:.2g}" if m["loaded"] else "refused")
        print(f"| {row['build']} | {row['min_runtime']} | " + " | ".join(pred + meas) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
