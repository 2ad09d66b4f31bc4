"""inspect vs LiteRT vs TensorFlow on a ~1 MB and a ~200 MB model: whole-process time and peak memory.

Usage: python bench/inspect_speed.py [--runs 15] [--out bench/results/inspect_speed.json]
Builds the two models under bench/results/models/ on first use (the 200 MB one takes ~1 minute).
Goals: inspect <= 0.7x LiteRT listing the signatures (issue 22), 200 MB within 1.3x of 1 MB, peak <= 80 MiB (issue 3).
litesig runs as users run it, the `litesig` console script; LiteRT as a Python script importing ai-edge-litert.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _proc import GNU_TIME, alternate, compile_bytecode, litesig_command, measure  # noqa: E402

HERE = Path(__file__).parent
MODELS = HERE / "results" / "models"

LITERT = """
import sys
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1])
for key in it.get_signature_list():
    r = it.get_signature_runner(key); r.get_input_details(); r.get_output_details()
"""
TF = """
import os, sys, warnings
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"; warnings.simplefilter("ignore")
import tensorflow as tf
it = tf.lite.Interpreter(model_path=sys.argv[1])
for key in it.get_signature_list():
    r = it.get_signature_runner(key); r.get_input_details(); r.get_output_details()
"""


BUILD = """
import sys
from pathlib import Path
import keras
import litesig
path, width, layers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((width,), name="x")] + [keras.layers.Dense(width) for _ in range(layers)])
model.save(path.with_suffix(".keras"))
litesig.convert(path.with_suffix(".keras"), path, signature="embed", output_names=["y"], verify=False)
"""


def build(name: str, width: int, layers: int) -> Path:
    """Convert a Dense stack of the given size, in a child process so this one stays small."""
    import subprocess

    path = MODELS / f"{name}.tflite"
    if not path.exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", BUILD, str(path), str(width), str(layers)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "results" / "inspect_speed.json"))
    args = parser.parse_args()
    compile_bytecode()

    models = {"1MB": build("small_1mb", 256, 4), "200MB": build("large_200mb", 4096, 3)}
    py = sys.executable
    litesig_cli = [*litesig_command(), "inspect"]
    results: dict[str, object] = {"peak_memory_from": "GNU time %M" if GNU_TIME else "unavailable (install GNU time)", "python": platform.python_version(), "machine": platform.machine(), "runs": args.runs, "rows": []}
    rows = results["rows"]
    for label, path in models.items():
        size = path.stat().st_size
        fast = {  # alternating, run by run: the machine's drift hits all three alike
            "litesig inspect --json": litesig_cli + [str(path), "--json"],
            "litesig inspect (tables)": litesig_cli + [str(path)],
            "ai-edge-litert Interpreter": [py, "-c", LITERT, str(path)],
        }
        figures = alternate(fast, args.runs)
        figures["tf.lite.Interpreter"] = measure([py, "-c", TF, str(path)], max(2, args.runs // 5))
        for tool, m in figures.items():
            rows.append({"model": label, "size_bytes": size, "tool": tool, **m})
            print(f"{label:6s} {size / 1e6:8.1f} MB  {tool:28s} median {m['median_s']:.3f} s  min {m['min_s']:.3f} s  peak {m['peak_mib']} MiB", flush=True)

    def median(model: str, tool: str) -> float:
        return next(r["median_s"] for r in rows if r["model"] == model and r["tool"] == tool)

    ours = "litesig inspect --json"
    results["ratios"] = {
        "inspect_vs_litert_1MB": round(median("1MB", ours) / median("1MB", "ai-edge-litert Interpreter"), 3),
        "inspect_vs_litert_200MB": round(median("200MB", ours) / median("200MB", "ai-edge-litert Interpreter"), 3),
        "tables_vs_litert_200MB": round(median("200MB", "litesig inspect (tables)") / median("200MB", "ai-edge-litert Interpreter"), 3),
        "inspect_200MB_vs_1MB": round(median("200MB", ours) / median("1MB", ours), 3),
        "tables_200MB_vs_1MB": round(median("200MB", "litesig inspect (tables)") / median("1MB", "litesig inspect (tables)"), 3),
    }
    print(json.dumps(results["ratios"], indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
