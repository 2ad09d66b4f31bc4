"""batch: many conversions from one manifest, in worker processes that import TensorFlow once each, incremental.

Each job is exactly `litesig convert SOURCE -o OUTPUT ARGS...` (same checks, refusals and exit codes), run
by the same CLI entry point inside a long-lived worker, with the manifest's folder as working directory.
A job whose inputs did not change since its output was written and proven is skipped: the key is a hash
of litesig's and the converter's versions, the job's arguments, the content of every file or folder its
arguments name (sources, specs and the models they name, calibration data), and the output's own bytes.
The keys live in `.litesig-batch.json` beside the manifest, saved after every job, so a killed batch
resumes where it stopped; outputs are written atomically by convert itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, Problem
from .ui import Command, Ui, common

CACHE = ".litesig-batch.json"
MAX_JOBS = 10_000


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


@dataclass(frozen=True)
class Job:
    name: str
    source: str
    output: str
    args: tuple[str, ...] = ()

    def argv(self, force: bool) -> list[str]:
        return ["convert", self.source, "-o", self.output, *self.args, *(["--force"] if force else []), "--json", "-q"]


@dataclass
class Outcome:
    name: str
    output: str
    status: str  # converted | skipped | failed
    seconds: float = 0.0
    exit_code: int = 0
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def load_manifest(path: Path) -> list[Job]:
    """The jobs of a manifest, every problem listed at once (exit 2, nothing run)."""
    from .._toml import read_toml

    data = read_toml(path)
    problems: list[Problem] = []
    unknown = sorted(set(data) - {"job"})
    if unknown:
        problems.append(Problem(unknown[0], "unknown table; a manifest holds [[job]] entries"))
    entries = data.get("job", [])
    if not isinstance(entries, list) or not entries:
        problems.append(Problem("job", "no [[job]] entries"))
        raise InvalidInput(str(path), problems)
    if len(entries) > MAX_JOBS:
        raise InvalidInput(str(path), [Problem("job", f"{len(entries):,} jobs, more than {MAX_JOBS:,}")])
    jobs: list[Job] = []
    outputs: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"job[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, "expected a table"))
            continue
        extra = sorted(set(entry) - {"spec", "model", "output", "args", "name"})
        if extra:
            problems.append(Problem(f"{where}.{extra[0]}", "unknown key; expected spec or model, output, args, name"))
        sources = [entry[k] for k in ("spec", "model") if k in entry]
        if len(sources) != 1 or not isinstance(sources[0], str) or not sources[0]:
            problems.append(Problem(where, "give exactly one of spec = \"...\" or model = \"...\""))
            continue
        output, args = entry.get("output"), entry.get("args", [])
        if not isinstance(output, str) or not output:
            problems.append(Problem(f"{where}.output", "the .tflite to write, a path relative to the manifest"))
            continue
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            problems.append(Problem(f"{where}.args", "a list of strings: convert's flags, e.g. [\"--optimize\", \"float16\"]"))
            continue
        if any(a in ("-o", "--output", "--force", "-f", "--json", "--dry-run") for a in args):
            problems.append(Problem(f"{where}.args", "output, --force, --json and --dry-run are the batch's to set"))
        resolved = os.path.normpath(path.parent / output)
        if resolved in outputs:
            problems.append(Problem(f"{where}.output", f"{output!r} is also job[{outputs[resolved]}]'s output"))
        outputs[resolved] = i
        name = str(entry["name"]) if isinstance(entry.get("name"), str) else Path(output).stem
        jobs.append(Job(name, sources[0], output, tuple(args)))
    if problems:
        raise InvalidInput(str(path), problems)
    return jobs


def _digest(path: Path, h: Any) -> None:
    """Feed a file's bytes, or a folder's files (names and bytes, sorted), into `h`."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(child.relative_to(path)).encode() + b"\0")
            _file(child, h)
    elif path.is_file():
        _file(path, h)


def _file(path: Path, h: Any) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("litesig", "tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "ai-edge-quantizer"):
        with contextlib.suppress(PackageNotFoundError):
            out.append(f"{package} {version(package)}")
    return ", ".join(out)


def job_key(job: Job, root: Path, versions: str) -> str:
    """What the job's output depends on; a changed byte anywhere changes the key."""
    import hashlib

    h = hashlib.sha256(versions.encode() + b"\0" + json.dumps([job.source, job.output, *job.args]).encode())
    named = [job.source, *job.args]
    source = root / job.source
    if source.suffix == ".toml" and source.is_file():
        from ..sources.spec import load_spec

        with contextlib.suppress(Exception):  # an invalid spec is convert's to report; its bytes are hashed anyway
            named += [str(m.path) for m in load_spec(source).models.values()]
    for item in named:
        for candidate in (item, item.split("=", 1)[-1]):  # flags like --input-shape x=... never name files, NAME=FILE may
            p = root / candidate
            if p.exists():
                h.update(candidate.encode() + b"\0")
                _digest(p, h)
    return h.hexdigest()


def _output_digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    import hashlib

    h = hashlib.sha256()
    _file(path, h)
    return h.hexdigest()


def _outcome(job: Job, code: int, text: str, seconds: float) -> Outcome:
    data: Any = {}
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            data = json.loads(candidate)
            break
        except ValueError:
            continue
    if code == 0:
        return Outcome(job.name, job.output, "converted", seconds, 0, result=data)
    message = str(data["message"]) if isinstance(data, dict) and data.get("message") else text.splitlines()[-1] if text else ""
    return Outcome(job.name, job.output, "failed", seconds, code, message)


def _pool(jobs: int, ray_address: str | None, entry: Callable[..., Any]) -> Any:
    """An executor with submit(fn, *args) -> future: worker processes here, or Ray tasks."""
    if ray_address is None:  # imported here: every litesig command imports this module, few run a batch
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    return _RayPool(jobs, ray_address, entry)


class _RayPool:
    """Ray tasks behind the executor interface; Ray reuses its worker processes, so each imports TensorFlow once."""

    def __init__(self, jobs: int, address: str, entry: Callable[..., Any]):
        try:
            import ray
        except ImportError:
            from ..errors import MissingDependency

            raise MissingDependency("ray", "scale", "batch --ray") from None
        self._ray = ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            if address == "local":
                options["num_cpus"] = jobs
            else:
                options["address"] = address
            ray.init(**options)
        self._task = ray.remote(num_cpus=1, max_retries=0)(entry)

    def submit(self, fn: Any, *args: Any) -> Any:
        return self._task.remote(*args).future()

    def __enter__(self) -> _RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._ray.shutdown()


def run_batch(manifest: Path, *, jobs: int, force: bool, say: Any, entry: Callable[[list[str], str], tuple[int, str, float]],
              ray_address: str | None = None) -> list[Outcome]:
    """Every job of the manifest; skipped where unchanged; one failure does not stop the others."""
    from concurrent.futures import as_completed

    todo = load_manifest(manifest)
    root = manifest.parent.resolve()
    cache_path = root / CACHE
    try:
        cache: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except (OSError, ValueError):
        cache = {}
    versions = _versions()
    outcomes: dict[int, Outcome] = {}
    pending: list[tuple[int, Job, str]] = []
    for i, job in enumerate(todo):
        key = job_key(job, root, versions)
        seen = cache.get(job.output, {})
        if not force and seen.get("key") == key and seen.get("output") == _output_digest(root / job.output):
            outcomes[i] = Outcome(job.name, job.output, "skipped", message="unchanged since it was written and proven")
        else:
            pending.append((i, job, key))
    if pending:
        where = f"Ray ({ray_address})" if ray_address else f"{min(jobs, len(pending))} worker(s)"
        say(f"{len(pending)} of {len(todo)} job(s) to run on {where}; {len(todo) - len(pending)} unchanged")
        with _pool(max(1, min(jobs, len(pending))), ray_address, entry) as pool:
            futures = {pool.submit(entry, job.argv(force=True), str(root)): (i, job, key) for i, job, key in pending}
            for future in as_completed(futures):
                i, job, key = futures[future]
                try:
                    code, text, seconds = future.result()
                except Exception as e:  # a worker that died (a converter crash kills its process)
                    code, text, seconds = 1, f'{{"message": "the worker running this job died: {type(e).__name__}"}}', 0.0
                outcomes[i] = _outcome(job, code, text, seconds)
                if code == 0:
                    cache[job.output] = {"key": key, "output": _output_digest(root / job.output)}
                else:
                    cache.pop(job.output, None)
                _save(cache_path, cache)
                say(f"{job.name}: {outcomes[i].status} ({seconds:.1f} s)")
    else:
        say(f"all {len(todo)} job(s) unchanged")
    return [outcomes[i] for i in range(len(todo))]


def _save(path: Path, cache: dict[str, Any]) -> None:
    from .._io import write_atomic

    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode(), replace=True)


def junit(outcomes: list[Outcome], suite: str) -> bytes:
    """A JUnit XML report: one test case per job; failures carry the message, skips say why."""
    import xml.etree.ElementTree as ET

    failed = sum(o.status == "failed" for o in outcomes)
    root = ET.Element("testsuite", name=suite, tests=str(len(outcomes)), failures=str(failed),
                      skipped=str(sum(o.status == "skipped" for o in outcomes)), time=f"{sum(o.seconds for o in outcomes):.3f}")
    for o in outcomes:
        case = ET.SubElement(root, "testcase", classname=suite, name=o.name, time=f"{o.seconds:.3f}")
        if o.status == "failed":
            ET.SubElement(case, "failure", message=o.message.splitlines()[0] if o.message else f"exit {o.exit_code}").text = o.message
        elif o.status == "skipped":
            ET.SubElement(case, "skipped", message=o.message)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def cmd_batch(args: argparse.Namespace, ui: Ui) -> int:
    manifest = Path(args.manifest)
    if args.jobs < 1:
        raise InvalidInput("batch", [Problem("--jobs", f"{args.jobs}: at least 1")])
    if args.junit:
        from .._io import check_writable

        check_writable(args.junit, force=True, inputs=[manifest])
    with ui.progress() as progress:
        outcomes = run_batch(manifest, jobs=args.jobs, force=args.force, say=progress, entry=args.entry, ray_address=args.ray)
    if args.junit:
        from .._io import write_atomic

        write_atomic(args.junit, junit(outcomes, manifest.stem), replace=True)
    failed = [o for o in outcomes if o.status == "failed"]
    if ui.json_mode:
        ui.print_json({"manifest": str(manifest), "passed": not failed, "jobs": [asdict(o) for o in outcomes]})
        return 1 if failed else 0
    from rich.markup import escape
    from rich.table import Table

    if not ui.quiet:
        table = Table(title=f"batch {escape(str(manifest))}")
        for column in ("job", "output", "status", "seconds"):
            table.add_column(column)
        for o in outcomes:
            colour = {"failed": "red", "skipped": "dim", "converted": "green"}[o.status]
            table.add_row(escape(o.name), escape(o.output), f"[{colour}]{o.status}[/]", f"{o.seconds:.1f}" if o.seconds else "")
        ui.console.print(table)
        for o in failed:
            ui.console.print(f"[red]{escape(o.name)}[/]: exit {o.exit_code}: {escape(o.message)}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("converted", "skipped", "failed")}
    ui.console.print(f"{'FAIL' if failed else 'PASS'}: {counts['converted']} converted, {counts['skipped']} unchanged, "
                     f"{counts['failed']} failed")
    return 1 if failed else 0
