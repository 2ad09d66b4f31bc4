"""The command line: parse, call the library, render. The only place that prints or exits.

Exit codes: 0 success; 1 a check failed (verify, convert's built-in verification, a converter
refusal); 2 bad input (spec, flags, files), with every problem listed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import LitesigError
from .ui import Ui, report_error

# Each command, in --help order: (module of litesig.cli, the function adding its parser). A run builds the
# parser of the command it was given only: importing and building all of them cost ~20 ms of every `inspect`.
_COMMANDS = {
    "convert": ("convert", "add_convert"),
    "inspect": ("model", "add_inspect"),
    "run": ("model", "add_run"),
    "verify": ("verify", "add_verify"),
    "bench": ("model", "add_bench"),
    "rename": ("edit", "add_rename"),
    "merge": ("edit", "add_merge"),
    "quantize": ("quantize", "add_quantize"),
    "metadata": ("metadata", "add_metadata"),
    "batch": ("batch", "add_batch"),
    "codegen": ("codegen", "add_codegen"),
    "demo": ("convert", "add_demo"),
}


def main(argv: Sequence[str] | None = None, prog: str = "litesig") -> int:
    """Run the CLI; return the exit code."""
    import sys

    words = sys.argv[1:] if argv is None else list(argv)
    completing = argv is None and "_ARGCOMPLETE" in os.environ
    parser = build_parser(prog, only=words[0] if words and not completing else None)
    if completing:  # the shell asks for completions (argcomplete, extra `completion`)
        try:
            import argcomplete
        except ImportError:
            return 1
        argcomplete.autocomplete(parser)  # answers and exits
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    ui = Ui(json_mode=getattr(args, "json", False), quiet=getattr(args, "quiet", False))
    try:
        return int(args.handler(args, ui) or 0)
    except LitesigError as e:
        return report_error(ui, e)
    except KeyboardInterrupt:
        ui.err.print("interrupted")
        return 130
    finally:
        ui.settle()


def entry() -> NoReturn:
    """The `litesig` console script and `python -m litesig`: run, then leave without the interpreter's teardown.

    That teardown destroys every module: ~0.7 s once TensorFlow was imported (convert, verify against
    a source), 10-20 ms otherwise (rename: 0.14 s in all). Nothing needs it: litesig has written,
    closed and renamed every output by then (a rule: no file is left open for the garbage collector
    to flush; docs/architecture.md). So exit hooks run (temporary folders, logging, worker pools), the
    standard streams are flushed, and the process ends. A traceback or SystemExit (argparse: --help,
    a bad flag) leaves the usual way.
    """
    import atexit
    import sys

    code = main()
    atexit._run_exitfuncs()  # what the interpreter's own exit would run first; os._exit runs nothing
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


_SYNONYMS = {"fp16": "float16", "half": "float16", "f16": "float16", "fp32": "none", "float32": "none", "dynamic": "dynamic-int8",
             "int8-dynamic": "dynamic-int8", "full-int8": "int8", "int4": "weight-only-int4", "js": "web", "webgpu": "web-gpu"}


class _Parser(argparse.ArgumentParser):
    """A command's parser whose mistakes are one line and a pointer to --help, not a usage dump of every flag."""

    def error(self, message: str) -> NoReturn:
        import re

        from ..errors import did_you_mean

        hint = ""
        choice = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if choice:
            options = [o.strip().strip("'") for o in choice[3].split(",")]
            hint = did_you_mean(choice[2], options)
            if not hint and _SYNONYMS.get(choice[2].lower()) in options:
                hint = f" (did you mean {_SYNONYMS[choice[2].lower()]!r}?)"
            message = f"argument {choice[1]}: {choice[2]!r} is not one of {', '.join(options)}"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n(see `{self.prog} --help`)\n")


def build_parser(prog: str = "litesig", only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only` naming a command, the parser of that command alone (same flags, same help)."""
    import importlib

    from .. import __version__

    parser = _Parser(
        prog=prog,
        description="Convert TensorFlow SavedModels and Keras models to .tflite with the signatures you name, and prove they work.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help: str, handler: Any, epilog: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(handler=handler)
        return p

    for name, (module, adder) in _COMMANDS.items():
        if only in _COMMANDS and name != only:
            continue
        add = getattr(importlib.import_module(f"{__package__}.{module}"), adder)
        if name == "batch":
            add(command, run_captured)  # batch's workers run each job through main
        else:
            add(command)
    return parser


def run_captured(argv: list[str], cwd: str) -> tuple[int, str, float]:
    """One command as `batch` runs it in a worker: in `cwd`, stdout captured (the command's --json), timed.

    The worker process stays alive between jobs, so TensorFlow is imported once per worker.
    """
    import contextlib
    import io
    import time

    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: a bad flag in a job's args
            code = e.code if isinstance(e.code, int) else 2
    text = out.getvalue().strip() or err.getvalue().strip()
    return code, text, time.perf_counter() - start
