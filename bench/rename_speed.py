"""rename on a ~200 MB model vs `cp` vs a read_model/write_model round trip through ai-edge-litert's flatbuffer_utils.

Usage: python bench/rename_speed.py [--runs 5] [--out bench/results/rename_speed.json]
Uses the 200 MB model that bench/inspect_speed.py builds. Goal (issue 5): rename <= 2x the time of cp.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _proc import compile_bytecode, measure  # noqa: E402
from inspect_speed import build  # noqa: E402

HERE = Path(__file__).parent

ROUND_TRIP = """
import sys
from ai_edge_litert.tools import flatbuffer_utils
model = flatbuffer_utils.read_model(sys.argv[1])
model.signatureDefs[0].signatureKey = b"renamed"
flatbuffer_utils.write_model(model, sys.argv[2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "rename_speed.json"))
    args = parser.parse_args()
    compile_bytecode()
    model = build("large_200mb", 4096, 3)
    rows = {}
    with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
        out = Path(tmp) / "out.tflite"
        commands = {
            "cp": ["cp", str(model), str(out)],
            "litesig rename": [sys.executable, "-m", "litesig", "rename", str(model), "-o", str(out), "--force",
                               "--signature", "embed=encode", "--input", "x=features", "--output", "y=embedding"],
            "flatbuffer_utils round trip": [sys.executable, "-c", ROUND_TRIP, str(model), str(out)],
        }
        for label, cmd in commands.items():
            runs = args.runs if label != "flatbuffer_utils round trip" else max(1, args.runs // 2)
            rows[label] = measure(cmd, runs)
            subprocess.run(["rm", "-f", str(out)], check=True)
            print(f"{label:30s} median {rows[label]['median_s']:.3f} s  peak {rows[label]['peak_mib']} MiB", flush=True)
    summary = {"model_bytes": model.stat().st_size, "rows": rows,
               "rename_vs_cp": round(rows["litesig rename"]["median_s"] / rows["cp"]["median_s"], 2),
               "round_trip_vs_rename": round(rows["flatbuffer_utils round trip"]["median_s"] / rows["litesig rename"]["median_s"], 1)}
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
