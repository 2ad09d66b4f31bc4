"""rename on a ~200 MB model vs `cp`, and vs a read_model/write_model round trip through ai-edge-litert's flatbuffer_utils.

Usage: python bench/rename_speed.py [--runs 15] [--out bench/results/rename_speed.json]
Uses the 200 MB model that bench/inspect_speed.py builds. Two cases, each alternating run by run with cp:
  new output:      `cp model out` vs `litesig rename model -o out ...`, out removed between runs;
  existing output: `cp model out` over the last copy vs `litesig rename model -o out --force ...` over it
                   (ext4 flushes a file written over an old one, at close for cp, at the rename for litesig).
Goal (issue 22): rename <= 1.5x cp in both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _proc import alternate, compile_bytecode, litesig_command, measure  # noqa: E402
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
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "results" / "rename_speed.json"))
    args = parser.parse_args()
    compile_bytecode()
    model = build("large_200mb", 4096, 3)
    names = ["--signature", "embed=encode", "--input-name", "x=features", "--output-name", "y=embedding"]
    summary: dict[str, object] = {"model_bytes": model.stat().st_size, "runs": args.runs}
    with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
        cp_out, ours_out = Path(tmp) / "cp.tflite", Path(tmp) / "litesig.tflite"
        remove = ["rm", "-f", str(cp_out), str(ours_out)]
        for case, force, between in (("new output", [], remove), ("existing output", ["--force"], None)):
            if not between:  # start from outputs that exist
                subprocess.run(["cp", str(model), str(cp_out)], check=True)
                subprocess.run(["cp", str(model), str(ours_out)], check=True)
            rows = alternate({"cp": ["cp", str(model), str(cp_out)],
                              "litesig rename": [*litesig_command(), "rename", str(model), "-o", str(ours_out), *force, *names]},
                             args.runs, between)
            ratio = round(rows["litesig rename"]["median_s"] / rows["cp"]["median_s"], 2)
            summary[case] = {"rows": rows, "rename_vs_cp": ratio}
            for label, m in rows.items():
                print(f"{case:16s} {label:16s} median {m['median_s']:.3f} s  min {m['min_s']:.3f} s  peak {m['peak_mib']} MiB", flush=True)
            print(f"{case:16s} rename / cp = {ratio}", flush=True)
            subprocess.run(remove, check=True)
        trip = measure([sys.executable, "-c", ROUND_TRIP, str(model), str(ours_out)], max(1, args.runs // 5))
        summary["flatbuffer_utils round trip"] = trip
        print(f"flatbuffer_utils round trip        median {trip['median_s']:.3f} s  peak {trip['peak_mib']} MiB")
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
