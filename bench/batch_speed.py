"""litesig batch vs one `litesig convert` per model: wall time for N small Keras models, and a re-run with nothing changed.

Usage: python bench/batch_speed.py [--models 20] [--jobs 2] [--out bench/results/batch_speed.json]
Builds N small Keras models under bench/results/batch/ (different widths), then times, whole process:
a loop of `litesig convert` (each pays TensorFlow's start-up), `litesig batch --jobs N --force`,
`litesig batch` again with nothing changed, and `litesig batch --ray --force` on a local Ray instance
(its start-up included); outputs compared with the loop's (after the Ray run). Goal (issue 23): batch >= 1.8x faster than the loop; re-run < 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BUILD = """
import sys
from pathlib import Path
import keras
folder, n = Path(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    path = folder / f"m{i}.keras"
    if not path.exists():
        keras.utils.set_random_seed(i)
        keras.Sequential([keras.Input((8 + i,), name="x"), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)]).save(path)
"""


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "results" / "batch_speed.json"))
    args = parser.parse_args()
    folder = HERE / "results" / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", BUILD, str(folder), str(args.models)], check=True)
    manifest = folder / "zoo.toml"
    manifest.write_text("".join(f'[[job]]\nmodel = "m{i}.keras"\noutput = "out/m{i}.tflite"\nargs = ["--signature", "embed"]\n\n'
                                for i in range(args.models)))
    litesig = [sys.executable, "-m", "litesig"]
    loop = sum(timed([*litesig, "convert", f"m{i}.keras", "-o", f"loop/m{i}.tflite", "--signature", "embed", "--force", "-q"], folder)
               for i in range(args.models))
    batch = timed([*litesig, "batch", "zoo.toml", "--jobs", str(args.jobs), "--force", "-q"], folder)
    rerun = timed([*litesig, "batch", "zoo.toml", "--jobs", str(args.jobs), "-q"], folder)
    ray = timed([*litesig, "batch", "zoo.toml", "--jobs", str(args.jobs), "--force", "--ray", "-q"], folder)
    same = all((folder / "out" / f"m{i}.tflite").read_bytes() == (folder / "loop" / f"m{i}.tflite").read_bytes()
               for i in range(args.models))
    summary = {"models": args.models, "jobs": args.jobs, "loop_s": round(loop, 2), "batch_s": round(batch, 2),
               "rerun_s": round(rerun, 2), "ray_local_s": round(ray, 2), "speedup": round(loop / batch, 2),
               "ray_speedup": round(loop / ray, 2), "bit_identical": same}
    print(json.dumps(summary, indent=2))
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
