"""litesig convert (with its built-in verification) vs the correct hand recipe, which checks nothing.

Usage: python bench/convert_speed.py [--runs 5] [--out bench/results/convert_speed.json]
The seed example (two Keras models behind one signature, the `litesig demo` spec). The hand recipe is
the one that works on TensorFlow 2.21 + Keras 3 (ExportArchive tracking the models' variables, one
endpoint, a SavedModel, the TFLiteConverter); it names nothing and proves nothing. Whole processes,
alternating, medians; litesig as users run it, the `litesig` console script, the recipe as a Python script.
Both import TensorFlow and Keras (~3 s here); the recipe's process then spends ~0.7 s tearing TensorFlow's
modules down at exit, which litesig skips once its output is written (cli.main.entry).
Goal (issue 22): litesig <= 1.0x the recipe.
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

sys.path.insert(0, str(Path(__file__).parent))
from _proc import compile_bytecode, litesig_command  # noqa: E402

HERE = Path(__file__).parent

RECIPE = """
import sys, tempfile
import keras, tensorflow as tf
folder, out = sys.argv[1], sys.argv[2]
a = keras.models.load_model(f"{folder}/model_a.keras")
b = keras.models.load_model(f"{folder}/model_b.keras")
archive = keras.export.ExportArchive()
archive.track(a)
archive.track(b)
archive.add_endpoint("sample_method_name", lambda x: {"my_output_a": a(x), "my_output_b": b(x)},
                     input_signature=[tf.TensorSpec([None, 128, 3], tf.float32, name="x_input")])
with tempfile.TemporaryDirectory() as d:
    archive.write_out(d)
    converter = tf.lite.TFLiteConverter.from_saved_model(d)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    open(out, "wb").write(converter.convert())
"""
# The same recipe leaving as litesig does, without TensorFlow's teardown: what litesig's own work costs beside it.
RECIPE_FAST_EXIT = RECIPE + "import os; os._exit(0)\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "convert_speed.json"))
    args = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, "-m", "litesig", "demo", str(folder / "demo"), "--force", "-q"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        demo = folder / "demo"
        commands = {
            "hand recipe (no names, no check)": [sys.executable, "-c", RECIPE, str(demo), str(folder / "recipe.tflite")],
            "hand recipe, exiting without teardown": [sys.executable, "-c", RECIPE_FAST_EXIT, str(demo), str(folder / "recipe2.tflite")],
            "litesig convert (named, verified)": [*litesig_command(), "convert", str(demo / "litesig.toml"), "-o",
                                                  str(folder / "litesig.tflite"), "--force", "-q"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.runs):  # alternating, so drift in the machine's load hits both alike
            for label, cmd in commands.items():
                start = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[label].append(time.perf_counter() - start)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    for label, median in medians.items():
        print(f"{label:36s} median {median:.3f} s  ({', '.join(f'{t:.2f}' for t in times[label])})")
    summary = {"runs": args.runs, "medians_s": medians,
               "litesig_vs_recipe": round(medians["litesig convert (named, verified)"] / medians["hand recipe (no names, no check)"], 2),
               "litesig_vs_recipe_without_teardown": round(medians["litesig convert (named, verified)"]
                                                           / medians["hand recipe, exiting without teardown"], 2)}
    print(json.dumps(summary, indent=2))
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
