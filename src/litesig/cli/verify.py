"""verify: a .tflite against its source or another .tflite, on the same inputs."""

from __future__ import annotations

import argparse

from ._terminal import for_terminal
from .ui import HELP_TARGET, Command, Ui, common, csv, parse_shapes


def add_verify(command: Command) -> None:
    p = command("verify", "run a .tflite and its source on the same inputs and compare every output (exit 1 on failure)", cmd_verify,
                "examples:\n  litesig verify model.tflite --against litesig.toml\n"
                "  litesig verify model.tflite --against model.keras --samples 8 --batch-sizes 1,3 --json\n"
                "  litesig verify model_int8.tflite --against model_f32.tflite\n"
                "  litesig verify renamed.tflite --against original.tflite --map names.toml   # or paired by structure\n"
                "  litesig verify mel.tflite --against mel.keras --shape audio=1,16000\n"
                "  litesig verify model.tflite --on web,gpu   # the app's runtimes against the Interpreter\n\n"
                "Tolerances default by what the file is (float32 tight, float16 looser, int8 by cosine); see docs/verification.md.")
    p.add_argument("model", help="the .tflite file to check")
    p.add_argument("--against", help="a litesig.toml spec, a SavedModel directory, a .keras/.h5 model, or another .tflite; "
                                      "without it (only with --on) the reference is the file itself on the Interpreter")
    p.add_argument("--signature", help="check only this signature")
    p.add_argument("--samples", type=int, default=1, help="random input sets per batch size (default 1)")
    p.add_argument("--batch-sizes", type=lambda t: [int(x) for x in csv(t)], default=[1, 3], help="sizes for dynamic batch dims (default 1,3)")
    p.add_argument("--inputs", metavar="FILE.npz", help="your own inputs instead of random ones")
    p.add_argument("--atol", type=float, help="absolute tolerance, scaled by max(1, max|reference|)")
    p.add_argument("--rtol", type=float, help="relative tolerance")
    p.add_argument("--min-cosine", type=float, help="minimum cosine similarity")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--unsafe", action="store_true", help="load .keras files that hold Python code")
    p.add_argument("--code", action="append", default=[], metavar="FILE.py", help="import this file (custom classes) first; needs --unsafe")
    p.add_argument("--map", help="against another .tflite: a rename map (rename's TOML format) from its names to this file's")
    p.add_argument("--shape", action="append", default=[], metavar="[SIG/]NAME=D0,D1,...",
                   help="the shape to use for an input with dynamic dims (repeatable)")
    p.add_argument("--on", type=csv, default=["interpreter"], metavar="RUNTIME[,RUNTIME]",
                   help="also run on these runtimes, each compared with the same reference: compiled (LiteRT 2 CompiledModel, "
                        "CPU), gpu (CompiledModel with the GPU accelerator; needs a Vulkan device, see docs/verification.md), "
                        "web (LiteRT.js 2.5.3, the browser's wasm build, in Node; needs node 18+ and npm), web-gpu (LiteRT.js on WebGPU in headless "
                        "Chromium; needs chromium too); the Interpreter always runs")
    p.add_argument("--target-runtime", metavar="X.Y", help=HELP_TARGET)
    common(p)


def cmd_verify(args: argparse.Namespace, ui: Ui) -> int:
    from ..verification.verify import verify
    from ..tflite.runtime_compat import parse_target

    target = parse_target(args.target_runtime)
    if args.against is None:
        if args.on == ["interpreter"]:
            from ..errors import InvalidInput, Problem

            raise InvalidInput("verify", [Problem("--against", "what to compare with: a spec, a SavedModel, a .keras/.h5 or a .tflite "
                                                  "(or --on RUNTIME to compare the file on that runtime with the Interpreter)")])
        args.against = args.model
    with ui.progress() as progress:
        report = verify(args.model, args.against, signature=args.signature, samples=args.samples, batch_sizes=args.batch_sizes,
                        inputs=args.inputs, atol=args.atol, rtol=args.rtol, min_cosine=args.min_cosine, seed=args.seed,
                        unsafe=args.unsafe, code=args.code, progress=progress, names=args.map, on=args.on,
                        shapes=parse_shapes(args.shape, where="verify") or None)
    runtime = None
    if target:
        from ..tflite.model_info import inspect

        runtime = inspect(args.model, target_runtime=target).runtime
    passed = report.passed and not (runtime and runtime.target_blockers)
    if ui.json_mode:
        ui.print_json({**report.to_dict(), **({"runtime": runtime.to_dict(), "passed": passed} if runtime else {})})
    else:
        from . import render

        if not ui.quiet:  # -q: the verdict line alone
            render.verification(ui.console, report)
        if runtime and not ui.quiet:
            render.runtime_requirement(ui.console, runtime)
            for b in runtime.target_blockers:
                ui.console.print(f"[red]{for_terminal(b, 2000)}[/]")
        failing = len(report.failures()) + sum(len(o.failures()) for o in report.others)
        cannot = [o.runtime for o in report.others if o.unavailable]
        ui.console.print("[green]PASS[/]" if passed else f"[red]FAIL[/]: {failing} failing output(s)"
                         + (f", cannot run on {', '.join(cannot)}" if cannot else "")
                         + (f", {len(runtime.target_blockers)} op version(s) missing from {target}" if runtime and runtime.target_blockers else ""))
    return 0 if passed else 1
