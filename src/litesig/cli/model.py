"""inspect, run and bench: a .tflite on LiteRT, no TensorFlow."""

from __future__ import annotations

import argparse
from typing import Any

from .._io import check_writable, write_atomic
from ..errors import InvalidInput, Problem
from ._terminal import for_terminal
from .ui import HELP_TARGET, Command, Ui, common, parse_shapes


def add_inspect(command: Command) -> None:
    p = command("inspect", "show a .tflite's signatures, tensors, ops, sizes and warnings (no TensorFlow)", cmd_inspect,
                "examples:\n  litesig inspect model.tflite\n  litesig inspect model.tflite --json | jq .signatures")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--target-runtime", metavar="X.Y", help=HELP_TARGET)
    common(p)


def add_run(command: Command) -> None:
    p = command("run", "run one signature on the LiteRT runtime", cmd_run,
                "examples:\n  litesig run model.tflite --signature sample_method_name --input x_input=x.npy -o out.npz\n"
                "  litesig run model.tflite --inputs batch.npz --json          # keys = input names\n"
                "  litesig run model.tflite --random                         # seeded random inputs, dynamic dims = 1")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--signature", help="which signature (may be left out when the file has one)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help="one input from a .npy file (repeatable)")
    p.add_argument("--inputs", metavar="FILE.npz", help="all inputs from an .npz keyed by input name (or '<signature>/<input>')")
    p.add_argument("--random", action="store_true", help="run on seeded random inputs (dynamic dims = 1)")
    p.add_argument("--quantize", action="store_true", help="take float arrays for integer inputs and quantize them with the "
                   "file's scale/zero point; dequantize integer outputs")
    p.add_argument("-o", "--output", help="write the outputs to this .npz, keyed by output name")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output file")
    common(p)


def add_bench(command: Command) -> None:
    p = command("bench", "latency of one signature on LiteRT: init, first invoke, percentiles, peak memory", cmd_bench,
                "example:\n  litesig bench model.tflite --signature encode --runs 200 --warmup 20 --threads 2 --shape x_input=1,128,3")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--signature", help="which signature (may be left out when the file has one)")
    p.add_argument("--runs", type=int, default=100, help="timed invokes (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed invokes first (default 10)")
    p.add_argument("--threads", type=int, help="interpreter threads (default: LiteRT's)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D0,D1,...", help="a shape for an input with dynamic dims (repeatable)")
    common(p)


def cmd_inspect(args: argparse.Namespace, ui: Ui) -> int:
    from ..tflite.model_info import inspect

    info = inspect(args.model, target_runtime=args.target_runtime)
    code = 1 if info.runtime is not None and info.runtime.target_blockers else 0
    if ui.json_mode:
        ui.print_json(info.to_dict())
        return code
    from . import render

    if ui.quiet:  # -q: the summary line alone
        refused = any(w.code == "refused" for w in info.warnings)
        ui.console.print(f"{render.escape(info.path)}: {len(info.signatures)} signature(s) ({render.escape(', '.join(info.signatures))}), "
                         f"{info.size_bytes:,} bytes, precision {info.precision}{', refused by run: see inspect without -q' if refused else ''}")
        return code
    render.model_info(ui.console, info)
    return code



def _run_inputs(args: argparse.Namespace, signature: str, runner: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    problems = []
    if args.inputs:
        from .._arrays import load_npz

        mine = lambda key: "/" not in key or key.startswith(f"{signature}/")  # noqa: E731  only the members used are read
        for key, array in load_npz(args.inputs, "--inputs", mine).items():
            name = key.split("/", 1)[1] if key.startswith(f"{signature}/") else key
            if "/" not in name:  # another signature's array
                inputs[name] = array
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            problems.append(Problem("--input", f"expected NAME=FILE.npy, got {item!r}"))
            continue
        from .._arrays import load_npy

        inputs[name] = load_npy(path, f"--input {name}")
    if problems:
        raise InvalidInput("run", problems)
    if args.random:
        import numpy as np

        from ..runtimes.inputs import sample_inputs

        random = sample_inputs(runner.input_details(signature), batch=1, dynamic=1, rng=np.random.default_rng(0))
        inputs = {**random, **inputs}
    if not inputs:
        raise InvalidInput("run", [Problem("inputs", "none given: use --input NAME=FILE.npy, --inputs FILE.npz or --random")])
    return inputs


def _array_summary(value: Any, full: bool) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(value)
    d: dict[str, Any] = {"dtype": str(a.dtype), "shape": list(a.shape)}
    if a.size and a.dtype.kind in "fiub":
        d.update(min=float(a.min()), max=float(a.max()), mean=float(a.astype(np.float64).mean()))
    if full:
        d["values"] = a.tolist() if a.size <= 100_000 else None
    else:
        d["first"] = a.ravel()[:6].tolist()
    return d


def cmd_run(args: argparse.Namespace, ui: Ui) -> int:
    from ..runtimes.interpreter import Runner

    if args.output:
        read = [args.model, *([args.inputs] if args.inputs else []), *(i.partition("=")[2] for i in args.input if "=" in i)]
        check_writable(args.output, force=args.force, inputs=[r for r in read if r])
    runner = Runner(args.model)
    signature = runner.resolve(args.signature)
    if args.quantize:
        from ..runtimes.quant import run_float

        outputs = run_float(runner, _run_inputs(args, signature, runner), signature)
    else:
        outputs = runner.run(_run_inputs(args, signature, runner), signature=signature)
    if args.output:
        from .._arrays import save_npz

        write_atomic(args.output, lambda tmp: save_npz(tmp, outputs, shown=args.output), replace=args.force)
    if ui.json_mode:
        ui.print_json({"signature": signature, "outputs": {n: _array_summary(v, full=not args.output) for n, v in outputs.items()},
                       "written": args.output})
        return 0
    from rich.table import Table

    table = Table(title=f"signature {for_terminal(signature)}", title_justify="left")
    for col in ("output", "dtype", "shape", "min", "max", "mean", "first values"):
        table.add_column(col)
    for name, value in outputs.items():
        s = _array_summary(value, full=False)
        table.add_row(for_terminal(name), s["dtype"], str(s["shape"]), *(f"{s[k]:.4g}" if k in s else "" for k in ("min", "max", "mean")),
                      ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in s["first"]))
    ui.console.print(table)
    if args.output:
        ui.console.print(f"wrote {for_terminal(args.output)}")
    return 0



def cmd_bench(args: argparse.Namespace, ui: Ui) -> int:
    from dataclasses import asdict

    from ..runtimes.bench import bench

    result = bench(args.model, signature=args.signature, runs=args.runs, warmup=args.warmup, threads=args.threads,
                   shapes=parse_shapes(args.shape))
    if ui.json_mode:
        ui.print_json(asdict(result))
        return 0
    ui.console.print(f"[bold]{for_terminal(result.model)}[/] signature [bold]{for_terminal(result.signature)}[/], "
                     f"threads {result.threads or 'default'}, inputs {for_terminal(result.input_shapes, 2000)}")
    ui.console.print(f"init {result.init_ms:.2f} ms, first invoke {result.first_invoke_ms:.2f} ms, {result.warmup} warmup + {result.runs} runs")
    ui.console.print(f"min {result.min_ms:.3f}  median {result.median_ms:.3f}  mean {result.mean_ms:.3f}  p90 {result.p90_ms:.3f}  "
                     f"p99 {result.p99_ms:.3f}  max {result.max_ms:.3f} ms;  peak memory {result.peak_rss_mib:.0f} MiB")
    return 0
