"""Many conversions from one manifest, in worker processes (or Ray tasks) that import TensorFlow once each, incremental.

Each job is exactly `litesig convert SOURCE -o OUTPUT ARGS...` (same checks, refusals and exit codes), run
by the CLI entry point the caller hands in (`entry(argv, cwd)`, main's `run_captured`) inside a long-lived
worker, with the manifest's folder as working directory. A job whose inputs did not change since its
output was written and proven is skipped: the key is a hash of litesig's and the converter's versions,
the job's arguments, the content of every file or folder its arguments name (sources, specs and the
models they name, calibration data), and the output's own bytes. The keys live in `.litesig-batch.json`
beside the manifest, saved after every job, so a killed batch resumes where it stopped; outputs are
written atomically by convert itself.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, Problem

CACHE = ".litesig-batch.json"
MAX_JOBS = 10_000
Entry = Callable[[list[str], str], tuple[int, str, float]]


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


def run_batch(manifest: Path, *, jobs: int, force: bool, say: Any, entry: Entry,
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
