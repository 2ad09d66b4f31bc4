"""Where output goes, and the argument helpers every command shares."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import InvalidInput, LitesigError, Problem
from ._terminal import for_terminal, message_for_terminal, strict_json

# command(name, help, handler, epilog) -> the subcommand's parser (see main.build_parser)
Command = Callable[..., argparse.ArgumentParser]


HELP_TARGET = ("the LiteRT/TensorFlow Lite release the app ships, e.g. 2.14: check every op version against it "
               "(a failed check exits 1)")



class Ui:
    """Where output goes: results to stdout, progress and errors to stderr."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self._console: Any = None
        self._err: Any = None
        self._warming: Any = None

    def warm_up(self) -> None:
        """Import rich on another thread while the command works (not for --json, whose result needs none).

        Called as work starts that leaves the interpreter free (rename's in-kernel copy), its ~35 ms of
        imports overlap that work instead of following it. Called earlier, they compete with the work's
        own Python and only delay it. Printing waits for the import as for any other.
        """
        if self.json_mode or "rich.console" in sys.modules:
            return
        import threading

        self._warming = threading.Thread(target=_import_rich, name="litesig-import-rich", daemon=True)
        self._warming.start()

    def settle(self) -> None:
        """The command is over: wait for warm_up's thread, flush the private stderr copy."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        if self._err is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
                self._err.file.flush()

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


def _import_rich() -> None:
    import rich.console  # noqa: F401 - imported for the main thread, which finds it in sys.modules


def report_error(ui: Ui, error: LitesigError) -> int:
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


def csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]



def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout instead of tables")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")



def parse_map(items: Sequence[str], flag: str) -> dict[str, str]:
    """--input-map a=x,b=y (and/or repeated): {old: new}; every malformed item is listed."""
    problems: list[Problem] = []
    out = parse_renames([part for item in items for part in csv(item)], flag, problems, scoped=False)
    if problems:
        raise InvalidInput("convert", problems)
    return out


def parse_shapes(items: Sequence[str], *, allow_dynamic: bool = False, where: str = "bench") -> dict[str, list[int]]:
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



def parse_renames(items: Sequence[str], flag: str, problems: list[Problem], *, scoped: bool) -> dict[Any, str]:
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
