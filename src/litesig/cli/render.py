"""Drawing library results as terminal tables (rich). JSON is drawn in cli.py from the same objects."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ._terminal import for_terminal as escape  # every name and path shown goes through it
from ..tflite.model_info import ModelInfo, QuantInfo, TensorInfo


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _quant(q: QuantInfo | None) -> str:
    if q is None:
        return ""
    if q.per_axis and not q.channels:
        return f"blockwise along axis {q.axis}"
    if q.per_axis:
        return f"per-axis {q.axis} ({q.channels} ch) scale {q.scale_min:.3g}..{q.scale_max:.3g}"
    return f"scale {q.scale:.4g} zp {q.zero_point}"


def _tensor_rows(table: Table, kind: str, tensors: dict[str, TensorInfo]) -> None:
    for t in tensors.values():
        table.add_row(kind, escape(t.name), t.dtype, escape(str(t.shape)), escape(t.tensor), _quant(t.quantization))


SHOWN = 100  # signatures, operators and warnings drawn as tables at most; --json has them all


def signatures_table(info: ModelInfo, limit: int | None = None) -> list[Table]:
    tables = []
    for sig in list(info.signatures.values())[:limit]:
        table = Table(title=f"signature [bold]{escape(sig.name)}[/] (subgraph {sig.subgraph})", title_justify="left")
        for col in ("", "name", "dtype", "shape", "tensor", "quantization"):
            table.add_column(col)
        _tensor_rows(table, "input", sig.inputs)
        _tensor_rows(table, "output", sig.outputs)
        tables.append(table)
    return tables


def model_info(console: Any, info: ModelInfo) -> None:
    appended = f", appended {_mb(info.appended_bytes)}" if info.appended_bytes >= 1024 else ""
    console.print(f"[bold]{escape(info.path)}[/]: {_mb(info.size_bytes)} (weights {_mb(info.weights_bytes)}, graph {_mb(info.graph_bytes)}"
                  f"{appended}), "
                  f"schema v{info.version}, {len(info.subgraphs)} subgraph(s), {info.tensors} tensors")
    if info.precision_detail is not None:
        p = info.precision_detail
        weights = ", ".join(f"{escape(k)} {_mb(v)}" for k, v in p.weights.items()) or "none"
        console.print(f"precision [bold]{p.mode}[/]: weights {weights}{f' ({p.weight_use})' if p.weight_use else ''}; "
                      f"activations {'/'.join(p.activations)}")
    if info.model_name or info.model_description:
        console.print(f"metadata: {escape(info.model_name or '')} {escape(info.model_description or '')}")
    tables = signatures_table(info, limit=SHOWN)
    for table in tables:
        console.print(table)
    if len(info.signatures) > len(tables):
        console.print(f"... and {len(info.signatures) - len(tables):,} more signatures (--json lists all)")
    if info.main_subgraph is not None:
        table = Table(title="no signatures; subgraph 0 takes and gives, in order (name them with rename --add-signature):", title_justify="left")
        for col in ("", "tensor", "dtype", "shape", "quantization"):
            table.add_column(col)
        for kind, tensors in (("input", info.main_subgraph.inputs), ("output", info.main_subgraph.outputs)):
            for t in tensors.values():
                table.add_row(kind, escape(t.tensor), t.dtype, escape(str(t.shape)), _quant(t.quantization))
        console.print(table)
    ops = Table(title="operators", title_justify="left")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for name, count in list(info.ops.items())[:SHOWN]:
        flag = " [yellow](Flex)[/]" if name in info.flex_ops else (" [yellow](custom)[/]" if name in info.custom_ops else "")
        ops.add_row(escape(name) + flag, str(count))
    console.print(ops)
    if info.runtime is not None:
        runtime_requirement(console, info.runtime)
    fits = info.app_runtimes
    if fits:
        label = {"gpu": "GPU (CompiledModel)", "web": "web (LiteRT.js)", "mediapipe": "MediaPipe Tasks"}
        for runtime in ("gpu", "web", "mediapipe"):
            mine = [f for f in fits if f.runtime == runtime]
            bad = [f for f in mine if not f.runs]
            if not bad:
                console.print(f"{label[runtime]}: [green]predicted to run[/]" + (" every signature" if runtime != "mediapipe" else ""))
                continue
            for f in bad[:5]:
                where = f" signature {escape(f.signature)}" if f.signature else ""
                console.print(f"{label[runtime]}{where}: [yellow]will refuse[/] - {escape('; '.join(f.why), 2000)}")
            if len(bad) > 5:
                console.print(f"{label[runtime]}: ... and {len(bad) - 5} more signatures")
    if info.metadata:
        console.print("metadata entries: " + ", ".join(escape(m) for m in info.metadata[:SHOWN])
                      + (f" ... and {len(info.metadata) - SHOWN:,} more" if len(info.metadata) > SHOWN else ""))
    if info.warnings:
        console.print(f"[bold yellow]{len(info.warnings)} warning(s)[/]")
        for w in info.warnings[:SHOWN]:
            console.print(f"  [yellow]{w.code}[/]: {escape(w.message, 2000)}\n    fix: {escape(w.fix, 2000)}")
    else:
        console.print("[green]no warnings[/]")


def runtime_requirement(console: Any, req: Any) -> None:
    """Op versions with the first release that runs each, and the minimum runtime beside the converter's metadata."""
    blocked = {(b.op, b.version) for b in req.target_blockers}
    table = Table(title="op versions (first LiteRT/TF Lite release with a kernel)", title_justify="left")
    for col in ("op", "version", "count", "first release"):
        table.add_column(col, justify="right" if col in ("version", "count") else "left")
    for o in req.ops:
        release = o.first_release or ("[yellow]register it in the app[/]" if o.kind != "builtin" else "[yellow]unknown[/]")
        if (o.op, o.version) in blocked:
            release = f"[red]{release}[/]"
        table.add_row(escape(o.op) + (f" [yellow]({o.kind})[/]" if o.kind != "builtin" else ""), str(o.version), str(o.count), release)
    console.print(table)
    line = f"minimum runtime: [bold]{req.min_runtime or 'unknown'}[/] (from op versions" + (" and tensor types)" if req.understated else ")")
    if req.metadata_min_runtime:
        agree = "[red]disagrees[/]" if req.metadata_disagrees or (req.understated and req.min_runtime != req.metadata_min_runtime) else "agrees"
        line += f"; converter's min_runtime_version: {escape(req.metadata_min_runtime)} ({agree})"
    if req.target:
        line += f"; target {escape(req.target)}: " + ("[green]loads[/]" if not req.target_blockers else f"[red]refused[/] ({len(req.target_blockers)} op version(s))")
    console.print(line)


def verification(console: Any, report: Any) -> None:
    table = Table(title=f"parity: {escape(report.model)} vs {escape(report.against)} (tolerance: {report.tolerance.name})", title_justify="left")
    for col in ("signature/output", "cases", "max abs", "max rel", "rmse", "cosine", "NaN/Inf", "result"):
        table.add_column(col, justify="left" if col in ("signature/output", "result") else "right")
    counts: dict[str, int] = {}
    errored: dict[str, int] = {}
    for case in report.cases:
        if case.error:
            errored[case.signature] = errored.get(case.signature, 0) + 1
        for out in case.outputs:
            key = f"{case.signature}/{out.name}"
            counts[key] = counts.get(key, 0) + 1
    shown: set[str] = set()
    worst = report.worst()
    for key, out in list(worst.items())[:SHOWN]:
        sig = key.split("/", 1)[0]
        shown.add(sig)
        if not out.passed:
            result = f"[red]FAIL[/] {escape(out.why)}"
        elif sig in errored:  # this output matched where it ran, but other cases of its signature did not run
            result = f"[red]FAIL[/] {errored[sig]} case(s) of {escape(sig)} did not run (below)"
        else:
            result = "[green]pass[/]"
        table.add_row(escape(key), str(counts.get(key, 0)), f"{out.max_abs:.3g}", f"{out.max_rel:.3g}", f"{out.rmse:.3g}",
                      f"{out.cosine:.6f}", f"{out.nan}/{out.inf}", result)
    for sig, n in list(errored.items())[:SHOWN]:
        if sig not in shown:
            table.add_row(escape(sig), str(n), "", "", "", "", "", "[red]FAIL[/] did not run (below)")
    for sig, why in report.unverified[:SHOWN]:
        table.add_row(escape(sig), "0", "", "", "", "", "", f"[yellow]NOT VERIFIED[/] {escape(why)}")
    console.print(table)
    if len(worst) > SHOWN:
        failed = sum(1 for o in worst.values() if not o.passed)
        console.print(f"... and {len(worst) - SHOWN} more outputs ({failed} failing in all); --json lists every one")
    if report.inputs:
        console.print(f"inputs: {escape(report.inputs)}")
    if getattr(report, "precision", ""):
        console.print(f"precision: {escape(report.precision)}")
    for note in getattr(report, "quantization", ()):
        console.print(f"[cyan]quantization:[/] {escape(note)}")
    for case in report.cases:
        if case.error:
            console.print(f"[red]{escape(case.signature)} {escape(str(case.input_shapes))}: {escape(case.error, 2000)}[/]")
    for other in getattr(report, "others", ()):
        console.print(f"\n[bold]on {escape(other.runtime)}[/]" + (f": {escape(other.accelerated)}" if other.accelerated else ""))
        if other.unavailable:
            console.print(f"[red]FAIL[/] {escape(other.unavailable, 2000)}")
        else:
            verification(console, other)


def wiring(console: Any, result: Any) -> None:
    for sig, lines in result.wiring.items():
        console.print(f"signature [bold]{escape(sig)}[/] wiring:")
        for line in lines:
            console.print(f"  {escape(line)}")


def converted_line(console: Any, result: Any) -> None:
    """One line: what was written (or planned), and whether it was verified."""
    if result.size_bytes == 0 and not result.verification:
        console.print("dry run: " + "; ".join(f"{escape(sig)}: {escape(', '.join(lines))}" for sig, lines in result.wiring.items()))
        return
    v = result.verification
    status = "not verified" if v is None else "verified" if not v.unverified else f"verified except {', '.join(s for s, _ in v.unverified)}"
    console.print(f"wrote {escape(str(result.path))} ({_mb(result.size_bytes)}, {result.optimize}, {escape(status)})")


def converted(console: Any, result: Any) -> None:
    from ..tflite.model_info import inspect

    if result.size_bytes == 0 and not result.verification:  # a dry run
        wiring(console, result)
        for note in result.notes:
            console.print(f"[yellow]note:[/] {escape(note)}")
        return
    console.print(f"[green]wrote[/] [bold]{escape(str(result.path))}[/] ({_mb(result.size_bytes)}, {result.optimize})")
    wiring(console, result)
    for table in signatures_table(inspect(result.path)):
        console.print(table)
    if result.verification is not None:
        verification(console, result.verification)
    console.print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note, 2000)}")


def demo(console: Any, outcome: Any) -> None:
    console.print(f"[bold]seed example[/] in {escape(str(outcome.directory))}: {', '.join(escape(f) for f in outcome.files)}")
    converted(console, outcome.result)
    console.print(f"get_signature_list(): {escape(repr(outcome.signature_list))}")
    for sig, details in outcome.details.items():
        for kind in ("inputs", "outputs"):
            for name, d in details[kind].items():
                console.print(f"  {escape(sig)} {kind[:-1]} {escape(name)}: dtype={d['dtype']} shape={d['shape']} "
                              f"shape_signature={d['shape_signature']} tensor={escape(d['tensor'])}")


def merged_line(console: Any, result: Any) -> None:
    """-q: one line."""
    console.print(f"wrote {escape(str(result.path))} ({_mb(result.size_bytes)}, {len(result.signatures)} signatures, "
                  f"{sum(1 for c in result.checks if c.identical)} checked bit-identical)")


def merged(console: Any, result: Any) -> None:
    table = Table(title=f"merged into {escape(str(result.path))}", title_justify="left")
    for col in ("signature", "from", "inputs", "outputs", "check"):
        table.add_column(col)
    checks = {c.signature: c for c in result.checks}
    shown = list(result.signatures.items())[:SHOWN]
    for name, sig in shown:
        c = checks.get(name)
        verdict = "not run" if c is None else (f"[green]bit-identical[/] at {len(c.sizes)} size(s)" if c.identical
                                               else f"[red]differs[/] {escape(c.detail)}")
        origin = f"{sig['source']}:{sig['source_signature'] or '(main subgraph)'}"
        table.add_row(escape(name), escape(origin), escape(", ".join(sig["inputs"])), escape(", ".join(sig["outputs"])), verdict)
    console.print(table)
    if len(result.signatures) > len(shown):
        failed = sum(1 for c in result.checks if not c.identical)
        console.print(f"... and {len(result.signatures) - len(shown)} more signatures ({failed} differ in all); --json lists every one")
    console.print(f"{_mb(result.size_bytes)} written; inputs {_mb(result.inputs_bytes)}; {result.shared_buffers} identical weight "
                  f"buffer(s) stored once, {_mb(result.bytes_saved)} saved")
    console.print(f"metadata from {escape(result.metadata_from)}" + (
        f"; associated files: {escape(', '.join(result.associated_files))}" if result.associated_files else ""))
