"""rename and merge: edit a .tflite's names and signatures without reconverting."""

from __future__ import annotations

import argparse

from ..errors import InvalidInput, Problem
from ._terminal import for_terminal
from .ui import Command, Ui, common, csv, parse_renames


def add_rename(command: Command) -> None:
    p = command("rename", "rename signatures, inputs and outputs in a .tflite without reconverting (weights untouched)", cmd_rename,
                "examples:\n  litesig rename model.tflite -o renamed.tflite --signature serving_default=classify \\\n"
                "      --input-name classify:input_layer=image --output-name classify:output_0=probs\n"
                "  litesig rename model.tflite -o renamed.tflite --map names.toml\n"
                "  litesig rename model.tflite --in-place --signature serving_default=classify\n"
                "  litesig rename old.tflite -o new.tflite --add-signature classify --inputs image --outputs probs\n\n"
                "names.toml:\n  [signatures.serving_default]\n  name = \"classify\"\n  inputs = { input_layer = \"image\" }\n"
                "  outputs = { output_0 = \"probs\" }\n\nSIG: may be left out when the file has one signature.")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("-o", dest="output_file", metavar="FILE", help="the .tflite to write")
    p.add_argument("--in-place", action="store_true", help="replace the model file (atomically)")
    p.add_argument("--signature", action="append", default=[], metavar="OLD=NEW", help="rename a signature (repeatable)")
    p.add_argument("--input-name", "--input", dest="input", action="append", default=[], metavar="[SIG:]OLD=NEW",
                   help="rename an input (repeatable)")
    p.add_argument("--output-name", dest="output_renames", action="append", default=[], metavar="[SIG:]OLD=NEW",
                   help="rename an output (repeatable); the file to write is -o")
    p.add_argument("--output", dest="output_renames_old", action="append", default=[], help=argparse.SUPPRESS)  # the old spelling
    p.add_argument("--map", help="a TOML file of renames (see below)")
    p.add_argument("--tensor-names", action="store_true", help="also rename the tensors behind renamed inputs/outputs to '<signature>_<name>:0'")
    p.add_argument("--add-signature", metavar="NAME", help="add a signature to a file that has none, over its main subgraph")
    p.add_argument("--inputs", type=csv, default=[], help="with --add-signature: names of the main subgraph's inputs, in order (default: its tensors' names, made valid)")
    p.add_argument("--outputs", type=csv, default=[], help="with --add-signature: names of its outputs, in order (default: its tensors' names)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    common(p)


def add_merge(command: Command) -> None:
    p = command("merge", "merge .tflite files into one with every signature, each checked bit-identical to its source", cmd_merge,
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
    common(p)


def cmd_rename(args: argparse.Namespace, ui: Ui) -> int:
    from ..tflite.rename import add_signature, load_rename_map, rename

    if args.add_signature:
        result = add_signature(args.model, args.output_file, name=args.add_signature, inputs=args.inputs, outputs=args.outputs,
                               in_place=args.in_place, force=args.force)
    else:
        problems: list[Problem] = []
        signatures = parse_renames(args.signature, "--signature", problems, scoped=False)
        inputs = parse_renames(args.input, "--input", problems, scoped=True)
        outputs = parse_renames(args.output_renames, "--output-name", problems, scoped=True)
        if args.output_renames_old:  # before --output-name; everywhere else --output is the file written
            outputs.update(parse_renames(args.output_renames_old, "--output", problems, scoped=True))
            ui.status("note: rename --output OLD=NEW is now --output-name OLD=NEW (-o/--output names the file written everywhere else)")
        if problems:
            raise InvalidInput("rename", problems)
        if args.map:
            plan = load_rename_map(args.map)
            signatures = {**plan.signatures, **signatures}
            inputs = {**plan.inputs, **inputs}
            outputs = {**plan.outputs, **outputs}
        result = rename(args.model, args.output_file, signatures=signatures, inputs=inputs, outputs=outputs,
                        tensor_names=args.tensor_names, in_place=args.in_place, force=args.force,
                        progress=lambda _step: ui.warm_up())  # the copy runs in the kernel: import rich meanwhile
    if ui.json_mode:
        ui.print_json({"path": str(result.path), "size_bytes": result.size_bytes, "changes": result.changes, "signatures": result.signatures})
        return 0
    if not ui.quiet:  # -q: the result line alone
        for change in result.changes:
            ui.console.print(f"  {for_terminal(change, 2000)}")
    ui.console.print(f"[green]wrote[/] {for_terminal(result.path)} ({result.size_bytes:,} bytes, {len(result.changes)} change(s))")
    return 0


def cmd_merge(args: argparse.Namespace, ui: Ui) -> int:
    from ..tflite.merge import load_merge_map
    from ..verification.merged import merge

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

    if ui.quiet:  # the result and nothing else
        render.merged_line(ui.console, result)
        return 0
    render.merged(ui.console, result)
    return 0
