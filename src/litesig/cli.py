"""The command line: parse, call the library, render. The only place that prints or exits.

Exit codes: 0 success; 1 a check failed (verify, convert's built-in verification, a converter
refusal); 2 bad input (spec, flags, files), with every problem listed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._io import check_writable, write_atomic
from ._terminal import for_terminal, message_for_terminal, strict_json
from .errors import InvalidInput, LitesigError, Problem
from .spec import IO_DTYPES, OPTIMIZE_MODES

HELP_TARGET = ("the LiteRT/TensorFlow Lite release the app ships, e.g. 2.14: check every op version against it "
               "(a failed check exits 1)")

EPILOG_CONVERT = """\
examples:
  litesig convert litesig.toml -o build/model.tflite
  litesig convert model.keras -o m.tflite --signature classify --input-names image --output-names probs,box
  litesig convert saved_model_dir -o m.tflite --signature-keys encode,decode --optimize float16

The result is run on LiteRT against the source before it is written; a mismatch exits 1 and
writes nothing (--no-verify skips this). See the README for the spec format.
"""


class Ui:
    """Where output goes: results to stdout, progress and errors to stderr."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self._console: Any = None
        self._err: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            # Piped output is read by people in logs too: don't squeeze tables into 80 columns.
            self._console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        return self._console

    @property
    def err(self) -> Any:
        if self._err is None:
            from rich.console import Console

            # A private copy of fd 2: convert captures fd 2 while the converter runs, and
            # progress must still reach the terminal.
            stream: Any
            try:
                stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
            except (OSError, ValueError, AttributeError):
                stream = sys.stderr
            self._err = Console(file=stream, highlight=False, width=None if stream.isatty() else 160)
        return self._err

    def status(self, message: str) -> None:
        """A one-line note on stderr (unless --quiet)."""
        if not self.quiet:
            self.err.print(for_terminal(message, 2000))

    def print_json(self, data: Any) -> None:
        sys.stdout.write(strict_json(data) + "\n")  # no NaN/Infinity literals: see _terminal.py

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        """A callback for library progress: a spinner on a terminal, plain lines elsewhere."""
        if self.quiet:
            yield lambda _step: None
            return
        if self.err.is_terminal:
            with self.err.status("") as status:
                yield lambda step: status.update(f"{for_terminal(step, 2000)}…")
        else:
            yield lambda step: self.err.print(f"litesig: {for_terminal(step, 2000)}…")


def main(argv: Sequence[str] | None = None, prog: str = "litesig") -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    ui = Ui(json_mode=getattr(args, "json", False), quiet=getattr(args, "quiet", False))
    try:
        return int(args.handler(args, ui) or 0)
    except LitesigError as e:
        return _report_error(ui, e)
    except KeyboardInterrupt:
        ui.err.print("interrupted")
        return 130


def _report_error(ui: Ui, error: LitesigError) -> int:
    if ui.json_mode:
        payload: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
        if isinstance(error, InvalidInput):
            payload["problems"] = [{"where": p.where, "message": p.message} for p in error.problems]
        report = getattr(error, "report", None)
        if report is not None:
            payload["report"] = report.to_dict()
        ui.print_json(payload)
    ui.err.print(f"[bold red]error:[/] {message_for_terminal(error)}")
    return error.exit_code


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser(prog: str = "litesig") -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Convert TensorFlow SavedModels and Keras models to .tflite with the signatures you name, and prove they work.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help: str, handler: Any, epilog: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(handler=handler)
        return p

    p = command("convert", "convert models into one .tflite with named signatures, verified", _cmd_convert, EPILOG_CONVERT)
    p.add_argument("source", help="a litesig.toml spec, a .keras/.h5 file, or a SavedModel directory")
    p.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    p.add_argument("--optimize", choices=list(OPTIMIZE_MODES), help="weight/activation precision (default: the spec's, else none); "
                   "none/float16/dynamic-int8/int8 come from the TFLite converter, the others from ai-edge-quantizer (README)")
    p.add_argument("--calibration", help="int8: .npz of sample inputs, keyed '<signature>/<input>' or '<input>', first axis = samples")
    p.add_argument("--select-tf-ops", action="store_true", default=None, help="allow TensorFlow ops that LiteRT lacks (the app needs the Flex runtime)")
    p.add_argument("--unsafe", action="store_true", default=None, help="load .keras files that hold Python code (Lambda layers); only for files you trust")
    p.add_argument("--signature", help="model path form: the name of the signature to create")
    p.add_argument("--signature-keys", type=_csv, help="SavedModel form: which of its signatures to keep, comma-separated")
    p.add_argument("--input-names", type=_csv, help="model path form: new input names, in the model's documented order "
                   "(Keras: as declared; SavedModel: sorted by name; --dry-run shows it)")
    p.add_argument("--output-names", type=_csv, help="model path form: new output names, in the model's documented order")
    p.add_argument("--input-map", action="append", default=[], metavar="OLD=NEW", help="model path form: rename an input by name (repeatable)")
    p.add_argument("--output-map", action="append", default=[], metavar="OLD=NEW", help="model path form: rename an output by name (repeatable)")
    p.add_argument("--code", action="append", default=[], metavar="FILE.py",
                   help="import this Python file (custom layers/models) before loading; runs its code, so needs --unsafe")
    p.add_argument("--verify-inputs", metavar="FILE.npz", help="your own inputs for the built-in verification ('<signature>/<input>' or '<input>')")
    p.add_argument("--dry-run", action="store_true", help="load the models and show the signatures and wiring; convert nothing")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="model path form: the shape of an input (use -1 for dynamic), e.g. to fix the batch: --input-shape x=1,12,4")
    p.add_argument("--input-dtype", choices=list(IO_DTYPES), help="int8/uint8/int16 inputs for every signature (needs --optimize int8 or static-*)")
    p.add_argument("--output-dtype", choices=list(IO_DTYPES), help="int8/uint8/int16 outputs for every signature (a spec's io_dtype picks per tensor)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="write without running the result against the source")
    p.add_argument("--target-runtime", metavar="X.Y", help="the LiteRT/TensorFlow Lite release the app ships, e.g. 2.14: use converter "
                   "options that keep older op versions, refuse (exit 1, nothing written) a result it cannot load")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    _common(p)

    p = command("inspect", "show a .tflite's signatures, tensors, ops, sizes and warnings (no TensorFlow)", _cmd_inspect,
                "examples:\n  litesig inspect model.tflite\n  litesig inspect model.tflite --json | jq .signatures")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--target-runtime", metavar="X.Y", help=HELP_TARGET)
    _common(p)

    p = command("run", "run one signature on the LiteRT runtime", _cmd_run,
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
    _common(p)

    p = command("verify", "run a .tflite and its source on the same inputs and compare every output (exit 1 on failure)", _cmd_verify,
                "examples:\n  litesig verify model.tflite --against litesig.toml\n"
                "  litesig verify model.tflite --against model.keras --samples 8 --batch-sizes 1,3 --json\n"
                "  litesig verify model_int8.tflite --against model_f32.tflite\n"
                "  litesig verify renamed.tflite --against original.tflite --map names.toml   # or paired by structure\n"
                "  litesig verify mel.tflite --against mel.keras --shape audio=1,16000\n\n"
                "Tolerances default by what the file is (float32 tight, float16 looser, int8 by cosine); see the README.")
    p.add_argument("model", help="the .tflite file to check")
    p.add_argument("--against", required=True, help="a litesig.toml spec, a SavedModel directory, a .keras/.h5 model, or another .tflite")
    p.add_argument("--signature", help="check only this signature")
    p.add_argument("--samples", type=int, default=1, help="random input sets per batch size (default 1)")
    p.add_argument("--batch-sizes", type=lambda t: [int(x) for x in _csv(t)], default=[1, 3], help="sizes for dynamic batch dims (default 1,3)")
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
    p.add_argument("--target-runtime", metavar="X.Y", help=HELP_TARGET)
    _common(p)

    p = command("bench", "latency of one signature on LiteRT: init, first invoke, percentiles, peak memory", _cmd_bench,
                "example:\n  litesig bench model.tflite --signature encode --runs 200 --warmup 20 --threads 2 --shape x_input=1,128,3")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--signature", help="which signature (may be left out when the file has one)")
    p.add_argument("--runs", type=int, default=100, help="timed invokes (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed invokes first (default 10)")
    p.add_argument("--threads", type=int, help="interpreter threads (default: LiteRT's)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D0,D1,...", help="a shape for an input with dynamic dims (repeatable)")
    _common(p)

    p = command("rename", "rename signatures, inputs and outputs in a .tflite without reconverting (weights untouched)", _cmd_rename,
                "examples:\n  litesig rename model.tflite -o renamed.tflite --signature serving_default=classify \\\n"
                "      --input classify:input_layer=image --output classify:output_0=probs\n"
                "  litesig rename model.tflite -o renamed.tflite --map names.toml\n"
                "  litesig rename model.tflite --in-place --signature serving_default=classify\n"
                "  litesig rename old.tflite -o new.tflite --add-signature classify --inputs image --outputs probs\n\n"
                "names.toml:\n  [signatures.serving_default]\n  name = \"classify\"\n  inputs = { input_layer = \"image\" }\n"
                "  outputs = { output_0 = \"probs\" }\n\nSIG: may be left out when the file has one signature.")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("-o", dest="output_file", metavar="FILE", help="the .tflite to write")
    p.add_argument("--in-place", action="store_true", help="replace the model file (atomically)")
    p.add_argument("--signature", action="append", default=[], metavar="OLD=NEW", help="rename a signature (repeatable)")
    p.add_argument("--input", action="append", default=[], metavar="[SIG:]OLD=NEW", help="rename an input (repeatable)")
    p.add_argument("--output", dest="output_renames", action="append", default=[], metavar="[SIG:]OLD=NEW",
                   help="rename an output (repeatable); the file to write is -o")
    p.add_argument("--map", help="a TOML file of renames (see below)")
    p.add_argument("--tensor-names", action="store_true", help="also rename the tensors behind renamed inputs/outputs to '<signature>_<name>:0'")
    p.add_argument("--add-signature", metavar="NAME", help="add a signature to a file that has none, over its main subgraph")
    p.add_argument("--inputs", type=_csv, default=[], help="with --add-signature: names of the main subgraph's inputs, in order")
    p.add_argument("--outputs", type=_csv, default=[], help="with --add-signature: names of its outputs, in order")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    _common(p)

    p = command("merge", "merge .tflite files into one with every signature, each checked bit-identical to its source", _cmd_merge,
                "examples:\n  litesig merge detector.tflite classifier.tflite -o app.tflite\n"
                "  litesig merge a.tflite b.tflite -o ab.tflite --signature a:serving_default=detect --signature b:serving_default=classify\n"
                "  litesig merge new.tflite legacy.tflite -o out.tflite --signature legacy=classify   # legacy has no signatures\n"
                "  litesig merge a.tflite b.tflite -o ab.tflite --map merge.toml --metadata-from 2\n\n"
                "INPUT is a file's stem, its path or its 1-based position. merge.toml:\n"
                "  [models.a]\n  signatures = { serving_default = \"detect\" }\n  [models.legacy]\n  main = \"classify\"\n\n"
                "Identical weight buffers are stored once. Metadata and associated files (labels) come from the first\n"
                "input, or the one --metadata-from names. Nothing is written unless every signature gives bit-identical outputs.")
    p.add_argument("models", nargs="+", help="the .tflite files to merge")
    p.add_argument("-o", "--output", required=True, help="the .tflite to write")
    p.add_argument("--signature", action="append", default=[], metavar="INPUT:OLD=NEW or INPUT=NEW",
                   help="rename a signature, or name the main subgraph of an input without signatures (repeatable)")
    p.add_argument("--map", help="a TOML file of names (see below)")
    p.add_argument("--metadata-from", type=int, default=1, metavar="N", help="keep metadata and associated files of input N (1-based; default 1)")
    p.add_argument("--no-check", dest="check", action="store_false", help="write without running every signature against its source")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    _common(p)

    p = command("codegen", "generate the Kotlin, Java, C++, C or Python code that calls each signature", _cmd_codegen,
                "examples:\n  litesig codegen model.tflite --lang kotlin\n"
                "  litesig codegen model.tflite --lang kotlin --signature encode -o EncodeRunner.kt\n"
                "  litesig codegen model.tflite --lang kotlin --api compiled-model -o Runners.kt   (LiteRT 2 CompiledModel)\n"
                "  litesig codegen model.tflite --lang cpp -o model_runner.h\n"
                "  litesig codegen model.tflite --lang c -o model_runner.h   (LiteRT C API, libLiteRt.so)\n"
                "  litesig codegen model.tflite --lang python -o model_runner.py")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--lang", required=True, choices=["kotlin", "java", "cpp", "c", "python", "swift"], help="the language to generate")
    p.add_argument("--api", choices=["interpreter", "compiled-model"], default="interpreter",
                   help="Kotlin/Java: Interpreter.runSignature (default) or LiteRT 2's CompiledModel with TensorBuffers")
    p.add_argument("--signature", help="only this signature (default: all)")
    p.add_argument("--class-name", help="name of the generated class/namespace (default: from the file name)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    _common(p)

    p = command("demo", "build the seed example (two Keras models, one signature), convert it with float16 and show the result", _cmd_demo)
    p.add_argument("directory", nargs="?", default="litesig-demo", help="where to write the example (default: ./litesig-demo)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an earlier demo's files")
    _common(p)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout instead of tables")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


# ---------------------------------------------------------------------------------------------
# convert


def _cmd_convert(args: argparse.Namespace, ui: Ui) -> int:
    from .conversion import convert

    with ui.progress() as progress:
        result = convert(
            args.source, args.output,
            optimize=args.optimize, calibration=args.calibration, select_tf_ops=args.select_tf_ops, unsafe=args.unsafe,
            signature=args.signature, signature_keys=args.signature_keys,
            input_names=args.input_names, output_names=args.output_names,
            input_shapes=_parse_shapes(args.input_shape, allow_dynamic=True, where="convert") or None,
            input_map=_parse_map(args.input_map, "--input-map") or None, output_map=_parse_map(args.output_map, "--output-map") or None,
            code=args.code or None, verify_inputs=args.verify_inputs, dry_run=args.dry_run,
            input_dtype=args.input_dtype, output_dtype=args.output_dtype,
            target_runtime=args.target_runtime, force=args.force, verify=args.verify, progress=progress,
        )
    if ui.json_mode:
        ui.print_json(result.to_dict())
        return 0
    from . import render

    if ui.quiet:  # the result and nothing else
        render.converted_line(ui.console, result)
        return 0
    render.converted(ui.console, result)
    return 0


def _parse_map(items: Sequence[str], flag: str) -> dict[str, str]:
    problems: list[Problem] = []
    out = _parse_renames(items, flag, problems, scoped=False)
    if problems:
        raise InvalidInput("convert", problems)
    return out


# ---------------------------------------------------------------------------------------------
# inspect


def _cmd_inspect(args: argparse.Namespace, ui: Ui) -> int:
    from .model_info import inspect

    info = inspect(args.model, target_runtime=args.target_runtime)
    code = 1 if info.runtime is not None and info.runtime.target_blockers else 0
    if ui.json_mode:
        ui.print_json(info.to_dict())
        return code
    from . import render

    render.model_info(ui.console, info)
    return code


# ---------------------------------------------------------------------------------------------
# demo


def _cmd_demo(args: argparse.Namespace, ui: Ui) -> int:
    from .demo import run_demo

    with ui.progress() as progress:
        outcome = run_demo(Path(args.directory), force=args.force, progress=progress)
    if ui.json_mode:
        ui.print_json(outcome.to_dict())
        return 0
    from . import render

    render.demo(ui.console, outcome)
    return 0


# ---------------------------------------------------------------------------------------------
# run / verify / bench


def _run_inputs(args: argparse.Namespace, signature: str, runner: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    problems = []
    if args.inputs:
        from ._arrays import load_npz

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
        from ._arrays import load_npy

        inputs[name] = load_npy(path, f"--input {name}")
    if problems:
        raise InvalidInput("run", problems)
    if args.random:
        import numpy as np

        from .parity import sample_inputs

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


def _cmd_run(args: argparse.Namespace, ui: Ui) -> int:
    from .runtime import Runner

    if args.output:
        check_writable(args.output, force=args.force)
    runner = Runner(args.model)
    signature = runner.resolve(args.signature)
    if args.quantize:
        from .quant import run_float

        outputs = run_float(runner, _run_inputs(args, signature, runner), signature)
    else:
        outputs = runner.run(_run_inputs(args, signature, runner), signature=signature)
    if args.output:
        from ._arrays import save_npz

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


def _cmd_verify(args: argparse.Namespace, ui: Ui) -> int:
    from dataclasses import asdict

    from rich.markup import escape

    from .verification import verify
    from .runtime_compat import parse_target

    target = parse_target(args.target_runtime)
    with ui.progress() as progress:
        report = verify(args.model, args.against, signature=args.signature, samples=args.samples, batch_sizes=args.batch_sizes,
                        inputs=args.inputs, atol=args.atol, rtol=args.rtol, min_cosine=args.min_cosine, seed=args.seed,
                        unsafe=args.unsafe, code=args.code, progress=progress, names=args.map,
                        shapes=_parse_shapes(args.shape, where="verify") or None)
    runtime = None
    if target:
        from .model_info import inspect

        runtime = inspect(args.model, target_runtime=target).runtime
    passed = report.passed and not (runtime and runtime.target_blockers)
    if ui.json_mode:
        ui.print_json({**report.to_dict(), **({"runtime": asdict(runtime), "passed": passed} if runtime else {})})
    else:
        from . import render

        render.verification(ui.console, report)
        if runtime:
            render.runtime_requirement(ui.console, runtime)
            for b in runtime.target_blockers:
                ui.console.print(f"[red]{escape(str(b))}[/]")
        ui.console.print("[green]PASS[/]" if passed else f"[red]FAIL[/]: {len(report.failures())} failing output(s)"
                         + (f", {len(runtime.target_blockers)} op version(s) missing from {target}" if runtime and runtime.target_blockers else ""))
    return 0 if passed else 1


def _parse_shapes(items: Sequence[str], *, allow_dynamic: bool = False, where: str = "bench") -> dict[str, list[int]]:
    shapes, problems = {}, []
    flag = "--input-shape" if allow_dynamic else "--shape"
    for item in items:
        name, sep, dims = item.partition("=")
        try:
            shape = [int(d) for d in dims.split(",")]
            if not sep or not name or any(d < 1 and not (allow_dynamic and d == -1) for d in shape):
                raise ValueError
            shapes[name] = shape
        except ValueError:
            sizes = "positive sizes or -1" if allow_dynamic else "positive sizes"
            problems.append(Problem(flag, f"expected NAME=D0,D1,... with {sizes}, got {item!r}"))
    if problems:
        raise InvalidInput(where, problems)
    return shapes


def _cmd_bench(args: argparse.Namespace, ui: Ui) -> int:
    from dataclasses import asdict

    from .runtime import bench

    result = bench(args.model, signature=args.signature, runs=args.runs, warmup=args.warmup, threads=args.threads,
                   shapes=_parse_shapes(args.shape))
    if ui.json_mode:
        ui.print_json(asdict(result))
        return 0
    ui.console.print(f"[bold]{for_terminal(result.model)}[/] signature [bold]{for_terminal(result.signature)}[/], "
                     f"threads {result.threads or 'default'}, inputs {for_terminal(result.input_shapes, 2000)}")
    ui.console.print(f"init {result.init_ms:.2f} ms, first invoke {result.first_invoke_ms:.2f} ms, {result.warmup} warmup + {result.runs} runs")
    ui.console.print(f"min {result.min_ms:.3f}  median {result.median_ms:.3f}  mean {result.mean_ms:.3f}  p90 {result.p90_ms:.3f}  "
                     f"p99 {result.p99_ms:.3f}  max {result.max_ms:.3f} ms;  peak memory {result.peak_rss_mib:.0f} MiB")
    return 0


def _parse_renames(items: Sequence[str], flag: str, problems: list[Problem], *, scoped: bool) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for item in items:
        left, sep, new = item.partition("=")
        if not sep or not left or not new:
            problems.append(Problem(flag, f"expected {'[SIG:]' if scoped else ''}OLD=NEW, got {item!r}"))
            continue
        if scoped:
            sig, colon, old = left.partition(":")
            out[(sig, old) if colon else (None, left)] = new
        else:
            out[left] = new
    return out


def _cmd_rename(args: argparse.Namespace, ui: Ui) -> int:
    from .renaming import add_signature, load_rename_map, rename

    if args.add_signature:
        result = add_signature(args.model, args.output_file, name=args.add_signature, inputs=args.inputs, outputs=args.outputs,
                               in_place=args.in_place, force=args.force)
    else:
        problems: list[Problem] = []
        signatures = _parse_renames(args.signature, "--signature", problems, scoped=False)
        inputs = _parse_renames(args.input, "--input", problems, scoped=True)
        outputs = _parse_renames(args.output_renames, "--output", problems, scoped=True)
        if problems:
            raise InvalidInput("rename", problems)
        if args.map:
            plan = load_rename_map(args.map)
            signatures = {**plan.signatures, **signatures}
            inputs = {**plan.inputs, **inputs}
            outputs = {**plan.outputs, **outputs}
        result = rename(args.model, args.output_file, signatures=signatures, inputs=inputs, outputs=outputs,
                        tensor_names=args.tensor_names, in_place=args.in_place, force=args.force)
    if ui.json_mode:
        ui.print_json({"path": str(result.path), "size_bytes": result.size_bytes, "changes": result.changes, "signatures": result.signatures})
        return 0
    for change in result.changes:
        ui.console.print(f"  {for_terminal(change, 2000)}")
    ui.console.print(f"[green]wrote[/] {for_terminal(result.path)} ({result.size_bytes} bytes)")
    return 0


def _cmd_merge(args: argparse.Namespace, ui: Ui) -> int:
    from .merging import load_merge_map, merge

    renames: dict[tuple[str, str | None], str] = load_merge_map(args.map) if args.map else {}
    problems = []
    for item in args.signature:
        left, sep, new = item.partition("=")
        ref, colon, old = left.rpartition(":") if ":" in left else (left, "", "")
        if not sep or not new or not ref or (colon and not old):
            problems.append(Problem("--signature", f"expected INPUT:OLD=NEW or INPUT=NEW, got {item!r}"))
            continue
        renames[(ref, old if colon else None)] = new
    if problems:
        raise InvalidInput("merge", problems)
    with ui.progress() as progress:
        progress("Merging and running every signature against its source")
        result = merge(args.models, args.output, renames=renames, metadata_from=args.metadata_from - 1, check=args.check, force=args.force)
    if ui.json_mode:
        ui.print_json(result.to_dict())
        return 0
    from . import render

    render.merged(ui.console, result)
    return 0


def _cmd_codegen(args: argparse.Namespace, ui: Ui) -> int:
    from .codegen import generate_code

    class_name = args.class_name
    if class_name is None and args.output and args.lang in ("java", "kotlin"):
        class_name = Path(args.output).stem  # a public Java class must match its file name
    if args.output:
        check_writable(args.output, force=args.force)
    code = generate_code(args.model, args.lang, signature=args.signature, class_name=class_name, api=args.api)
    if args.output:
        write_atomic(args.output, code.encode("utf-8"), replace=args.force)
        if ui.json_mode:
            ui.print_json({"path": args.output, "lang": args.lang, "bytes": len(code.encode("utf-8"))})
        else:
            ui.status(f"wrote {args.output}")  # status() makes it safe
    elif ui.json_mode:
        ui.print_json({"lang": args.lang, "code": code})
    else:
        sys.stdout.write(code)
    return 0
