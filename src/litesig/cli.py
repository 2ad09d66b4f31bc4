"""The command line: parse, call the library, render. The only place that prints or exits.

Exit codes: 0 success; 1 a check failed (verify, convert's built-in verification, a converter
refusal); 2 bad input (spec, flags, files), with every problem listed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidInput, LitesigError

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
            try:
                stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
            except (OSError, ValueError, AttributeError):
                stream = sys.stderr
            self._err = Console(file=stream, highlight=False, width=None if stream.isatty() else 160)
        return self._err

    def print_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        """A callback for library progress: a spinner on a terminal, plain lines elsewhere."""
        if self.quiet:
            yield lambda _step: None
            return
        if self.err.is_terminal:
            with self.err.status("") as status:
                yield lambda step: status.update(f"{step}…")
        else:
            yield lambda step: self.err.print(f"litesig: {step}…")


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
    from rich.markup import escape

    ui.err.print(f"[bold red]error:[/] {escape(str(error))}")
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
    p.add_argument("--optimize", choices=["none", "float16", "dynamic-int8", "int8"], help="weight/activation precision (default: the spec's, else none)")
    p.add_argument("--calibration", help="int8: .npz of sample inputs, keyed '<signature>/<input>' or '<input>', first axis = samples")
    p.add_argument("--select-tf-ops", action="store_true", default=None, help="allow TensorFlow ops that LiteRT lacks (the app needs the Flex runtime)")
    p.add_argument("--unsafe", action="store_true", default=None, help="load .keras files that hold Python code (Lambda layers); only for files you trust")
    p.add_argument("--signature", help="model path form: the name of the signature to create")
    p.add_argument("--signature-keys", type=_csv, help="SavedModel form: which of its signatures to keep, comma-separated")
    p.add_argument("--input-names", type=_csv, help="model path form: new input names, in the model's input order")
    p.add_argument("--output-names", type=_csv, help="model path form: new output names, in the model's output order")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="write without running the result against the source")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    _common(p)

    p = command("inspect", "show a .tflite's signatures, tensors, ops, sizes and warnings (no TensorFlow)", _cmd_inspect,
                "examples:\n  litesig inspect model.tflite\n  litesig inspect model.tflite --json | jq .signatures")
    p.add_argument("model", help="the .tflite file")
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
            force=args.force, verify=args.verify, progress=progress,
        )
    if ui.json_mode:
        ui.print_json({
            "path": str(result.path), "size_bytes": result.size_bytes, "optimize": result.optimize,
            "signatures": result.signatures, "timings": result.timings,
            "verification": result.verification.to_dict() if result.verification else None,
        })
        return 0
    from . import render

    render.converted(ui.console, result)
    return 0


# ---------------------------------------------------------------------------------------------
# inspect


def _cmd_inspect(args: argparse.Namespace, ui: Ui) -> int:
    from .model_info import inspect

    info = inspect(args.model)
    if ui.json_mode:
        ui.print_json(info.to_dict())
        return 0
    from . import render

    render.model_info(ui.console, info)
    return 0


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
