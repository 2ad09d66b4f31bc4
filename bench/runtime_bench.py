"""litesig bench vs LiteRT's benchmark_litert_model.py, and Runner overhead, on a MobileNetV2-sized model.

Usage: python bench/runtime_bench.py [--runs 200] [--threads 2] [--out bench/results/runtime_bench.json]
Goals (issue 4): litesig bench within 10% of LiteRT's tool on the same model and threads;
Runner per-invoke overhead over a raw ai-edge-litert signature runner <= 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
MODELS = HERE / "results" / "models"

BUILD = """
import sys
from pathlib import Path
import keras
import litesig
path = Path(sys.argv[1])
keras.utils.set_random_seed(0)
model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
model.save(path.with_suffix(".keras"))
litesig.convert(path.with_suffix(".keras"), path, signature="classify", input_names=["image"], output_names=["probs"],
                input_shapes={"image": [1, 224, 224, 3]})
"""


def model_path() -> Path:
    path = MODELS / "mobilenet_v2_224.tflite"
    if not path.exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, str(path)], check=True)
    return path


def litert_tool(path: Path, runs: int, warmup: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={path}",
                        f"--num_runs={runs}", f"--warmup_runs={warmup}", f"--num_threads={threads}", f"--result_json={out}"],
                       check=True, capture_output=True)
        return json.loads(out.read_text())


def litesig_cli(path: Path, runs: int, warmup: int, threads: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "litesig", "bench", str(path), "--runs", str(runs), "--warmup", str(warmup),
                           "--threads", str(threads), "--json"], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout)


def overhead(path: Path, runs: int, threads: int) -> dict:
    """Interleaved rounds of raw runner calls and Runner.run calls; per-invoke means in ms."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    import litesig

    x = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    raw = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("classify")
    runner = litesig.Runner(path, num_threads=threads)
    for _ in range(10):
        raw(image=x)
        runner.run({"image": x})
    raw_t, ours_t, unchecked_t = [], [], []
    for _ in range(runs):
        t = time.perf_counter(); raw(image=x); raw_t.append(time.perf_counter() - t)  # noqa: E702
        t = time.perf_counter(); runner.run({"image": x}); ours_t.append(time.perf_counter() - t)  # noqa: E702
        t = time.perf_counter(); runner.run({"image": x}, check=False); unchecked_t.append(time.perf_counter() - t)  # noqa: E702
    r, o, u = (statistics.median(v) * 1000 for v in (raw_t, ours_t, unchecked_t))
    return {"raw_median_ms": round(r, 4), "runner_median_ms": round(o, 4), "runner_unchecked_median_ms": round(u, 4),
            "runner_overhead_pct": round(100 * (o - r) / r, 2), "runner_unchecked_overhead_pct": round(100 * (u - r) / r, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="alternate the two tools this many times")
    parser.add_argument("--out", default=str(HERE / "results" / "runtime_bench.json"))
    args = parser.parse_args()
    path = model_path()
    rows = []
    for i in range(args.repeats):
        theirs = litert_tool(path, args.runs, args.warmup, args.threads)
        ours = litesig_cli(path, args.runs, args.warmup, args.threads)
        rows.append({"repeat": i, "litert_tool": theirs, "litesig_bench": ours})
        t_med, t_avg = theirs["latency"]["median_ms"], theirs["latency"]["avg_ms"]
        print(f"repeat {i}: LiteRT tool median {t_med:.3f} ms mean {t_avg:.3f} ms | "
              f"litesig bench median {ours['median_ms']:.3f} ms mean {ours['mean_ms']:.3f} ms", flush=True)
    theirs_med = statistics.median(r["litert_tool"]["latency"]["median_ms"] for r in rows)
    ours_med = statistics.median(r["litesig_bench"]["median_ms"] for r in rows)
    summary = {"model": str(path), "size_bytes": path.stat().st_size, "threads": args.threads, "runs": args.runs,
               "litert_tool_median_ms": theirs_med, "litesig_bench_median_ms": ours_med,
               "litesig_vs_litert_pct": round(100 * (ours_med - theirs_med) / theirs_med, 2),
               **overhead(path, args.runs, args.threads)}
    print(json.dumps(summary, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
