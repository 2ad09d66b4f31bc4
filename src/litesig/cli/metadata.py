"""metadata: TFLite Model Metadata and labels for MediaPipe Tasks, written without TensorFlow."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..errors import InvalidInput, Problem
from .ui import Command, Ui, common, csv


def add_metadata(command: Command) -> None:
    p = command("metadata", "add the TFLite Model Metadata MediaPipe Tasks read (normalization, labels) to an image model", cmd_metadata,
                "examples:\n  litesig metadata classifier.tflite -o classifier_mp.tflite --labels labels.txt --mean 127.5 --std 127.5\n"
                "  litesig metadata embedder.tflite -o embedder_mp.tflite --mean 0 --std 255 --name my_embedder\n\n"
                "The model keeps its signatures, graph and weights; the metadata goes into its TFLITE_METADATA buffer\n"
                "and labels.txt into a zip appended to it. MediaPipe Tasks need one subgraph, an image input\n"
                "[1, height, width, 3|1] and, for a float input, its normalization: the pixel values the model was\n"
                "trained on are (pixel - mean) / std (--mean 127.5 --std 127.5 for [-1, 1], --mean 0 --std 255 for [0, 1]).")
    p.add_argument("model", help="the .tflite file (one subgraph, one image input)")
    p.add_argument("-o", "--output", required=True, help="the .tflite to write")
    p.add_argument("--labels", metavar="FILE", help="one label per line, one per class of the first output")
    p.add_argument("--mean", type=csv, default=[], metavar="V[,V,V]", help="normalization mean: one value, or one per channel")
    p.add_argument("--std", type=csv, default=[], metavar="V[,V,V]", help="normalization std: one value, or one per channel")
    p.add_argument("--color-space", choices=["rgb", "grayscale"], default="rgb", help="the input image's colour space (default rgb)")
    p.add_argument("--score-threshold", type=float, help="the score below which results are filtered out")
    p.add_argument("--name", help="model name")
    p.add_argument("--description", help="model description")
    p.add_argument("--model-version", dest="version", help="model version (any text)")
    p.add_argument("--author", help="model author")
    p.add_argument("--license", help="model license")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    common(p)


def _numbers(flag: str, values: list[str], problems: list[Problem]) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        problems.append(Problem(flag, f"{','.join(values)!r}: expected numbers separated by commas"))
        return ()


def cmd_metadata(args: argparse.Namespace, ui: Ui) -> int:
    from .._io import read_text, unreadable
    from .._limits import max_text_bytes
    from ..tflite.metadata import ModelMetadata, parse_labels, write_metadata

    problems: list[Problem] = []
    mean, std = _numbers("--mean", args.mean, problems), _numbers("--std", args.std, problems)
    labels: tuple[str, ...] = ()
    if args.labels:
        try:
            text = read_text(args.labels, max_text_bytes(), "labels file")
        except OSError as e:
            raise unreadable(Path(args.labels), e) from None
        except UnicodeDecodeError:
            raise InvalidInput(args.labels, [Problem("", "not UTF-8 text")]) from None
        labels, why = parse_labels(text)
        if why:
            problems.append(Problem("--labels", f"{args.labels}: {why}"))
    if problems:
        raise InvalidInput("metadata", problems)
    meta = ModelMetadata(name=args.name, description=args.description, version=args.version, author=args.author,
                         license=args.license, mean=mean, std=std, color_space=args.color_space, labels=labels,
                         score_threshold=args.score_threshold)
    result = write_metadata(args.model, args.output, meta, force=args.force)
    if ui.json_mode:
        ui.print_json({**asdict(result), "path": str(result.path)})
        return 0
    from ._terminal import for_terminal

    size = f"{result.size_bytes / 1e6:.2f} MB" if result.size_bytes >= 1e6 else f"{result.size_bytes / 1e3:.1f} kB"
    ui.console.print(f"{for_terminal(result.path)}: {size}; metadata for input {for_terminal(repr(result.input))}"
                     f" and output {for_terminal(repr(result.output))} ({result.classes} classes{', labelled' if labels else ''})")
    for note in result.notes if not ui.quiet else ():
        ui.console.print(f"note: {for_terminal(note, 2000)}")
    return 0
