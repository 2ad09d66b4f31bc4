"""batch: the CLI of conversion/batch.py (a manifest of convert jobs in parallel workers, incremental)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..errors import InvalidInput, Problem
from .ui import Command, Ui, common


def add_batch(command: Command, entry: Callable[[list[str], str], tuple[int, str, float]]) -> None:
    """`entry(argv, cwd)` runs one litesig command in a worker and returns (exit code, its stdout, seconds): main's."""
    p = command("batch", "convert and prove many models from one manifest, in parallel workers, skipping what did not change",
                cmd_batch,
                "examples:\n  litesig batch zoo.toml\n  litesig batch zoo.toml --jobs 2 --junit report.xml --json\n\n"
                "zoo.toml (paths relative to it):\n  [[job]]\n  spec = \"detector/litesig.toml\"\n  output = \"out/detector.tflite\"\n\n"
                "  [[job]]\n  model = \"classifier.keras\"\n  output = \"out/classifier_f16.tflite\"\n"
                "  args = [\"--signature\", \"classify\", \"--optimize\", \"float16\", \"--target\", \"web\"]\n\n"
                "Each job is `litesig convert SOURCE -o OUTPUT ARGS...`: same checks, same refusals. A failing job does\n"
                "not stop the others; the exit code is 1 if any failed. Unchanged jobs are skipped (see .litesig-batch.json).")
    p.add_argument("manifest", help="the TOML file listing the jobs")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: the core count)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report (one test case per job) for CI")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the jobs as Ray tasks: on a local Ray instance, or the cluster at ADDRESS (e.g. ray://head:10001), "
                        "whose workers must see the manifest's folder at the same path; needs the `scale` extra")
    p.add_argument("-f", "--force", action="store_true", help="redo every job and overwrite outputs")
    p.set_defaults(entry=entry)
    common(p)


def cmd_batch(args: argparse.Namespace, ui: Ui) -> int:
    manifest = Path(args.manifest)
    if args.jobs < 1:
        raise InvalidInput("batch", [Problem("--jobs", f"{args.jobs}: at least 1")])
    if args.junit:
        from .._io import check_writable

        check_writable(args.junit, force=True, inputs=[manifest])
    from ..conversion.batch import junit, run_batch

    with ui.progress() as progress:
        outcomes = run_batch(manifest, jobs=args.jobs, force=args.force, say=progress, entry=args.entry, ray_address=args.ray)
    if args.junit:
        from .._io import write_atomic

        write_atomic(args.junit, junit(outcomes, manifest.stem), replace=True)
    failed = [o for o in outcomes if o.status == "failed"]
    if ui.json_mode:
        ui.print_json({"manifest": str(manifest), "passed": not failed, "jobs": [asdict(o) for o in outcomes]})
        return 1 if failed else 0
    from rich.table import Table

    from ._terminal import for_terminal as escape, message_for_terminal

    if not ui.quiet:
        table = Table(title=f"batch {escape(manifest)}")
        for column in ("job", "output", "status", "seconds"):
            table.add_column(column)
        for o in outcomes:
            colour = {"failed": "red", "skipped": "dim", "converted": "green"}[o.status]
            table.add_row(escape(o.name), escape(o.output), f"[{colour}]{o.status}[/]", f"{o.seconds:.1f}" if o.seconds else "")
        ui.console.print(table)
        for o in failed:
            ui.console.print(f"[red]{escape(o.name)}[/]: exit {o.exit_code}: {message_for_terminal(o.message)}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("converted", "skipped", "failed")}
    ui.console.print(f"{'FAIL' if failed else 'PASS'}: {counts['converted']} converted, {counts['skipped']} unchanged, "
                     f"{counts['failed']} failed")
    return 1 if failed else 0
