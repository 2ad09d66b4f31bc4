"""convert and demo: Keras models and SavedModels in, a proven .tflite out."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..sources.choices import IO_DTYPES, OPTIMIZE_MODES
from .ui import Command, Ui, common, csv, parse_map, parse_shapes


EPILOG_CONVERT = """\
examples:
  litesig convert litesig.toml -o build/model.tflite
  litesig convert model.keras -o m.tflite --signature classify --input-names image --output-names probs,box
  litesig convert saved_model_dir -o m.tflite --signature-keys encode,decode --optimize float16

The result is run on LiteRT against the source before it is written; a mismatch exits 1 and
writes nothing (--no-verify skips this). The spec format: docs/spec.md.
"""



def add_convert(command: Command) -> None:
    p = command("convert", "convert models into one .tflite with named signatures, verified", cmd_convert, EPILOG_CONVERT)
    p.add_argument("source", help="a litesig.toml spec, a .keras/.h5 file, or a SavedModel directory")
    p.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    p.add_argument("--optimize", choices=list(OPTIMIZE_MODES), help="weight/activation precision (default: the spec's, else none); "
                   "none/float16/dynamic-int8/int8 come from the TFLite converter, the others from ai-edge-quantizer (docs/quantization.md)")
    p.add_argument("--calibration", help="int8: .npz of sample inputs, keyed '<signature>/<input>' or '<input>', first axis = samples")
    p.add_argument("--select-tf-ops", action="store_true", default=None, help="allow TensorFlow ops that LiteRT lacks (the app needs the Flex runtime)")
    p.add_argument("--unsafe", action="store_true", default=None, help="load .keras files that hold Python code (Lambda layers); only for files you trust")
    p.add_argument("--signature", help="model path form: the name of the signature to create")
    p.add_argument("--signature-keys", type=csv, help="SavedModel form: which of its signatures to keep, comma-separated")
    p.add_argument("--input-names", type=csv, help="model path form: new input names, in the model's declared order "
                   "(Keras: as declared; a SavedModel: its function's argument order, refused where it has none; --dry-run shows it)")
    p.add_argument("--output-names", type=csv, help="model path form: new output names, in the model's declared order")
    p.add_argument("--input-map", action="append", default=[], metavar="OLD=NEW[,OLD=NEW]",
                   help="model path form: rename inputs by name, comma-separated or repeated")
    p.add_argument("--output-map", action="append", default=[], metavar="OLD=NEW[,OLD=NEW]",
                   help="model path form: rename outputs by name, comma-separated or repeated")
    p.add_argument("--code", action="append", default=[], metavar="FILE.py",
                   help="import this Python file (custom layers/models) before loading; runs its code, so needs --unsafe")
    p.add_argument("--verify-inputs", metavar="FILE.npz", help="your own inputs for the built-in verification ('<signature>/<input>' or '<input>')")
    p.add_argument("--dry-run", action="store_true", help="load the models and show the signatures and wiring; convert nothing")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...",
                   help="model path form: the shape of an input (use -1 for dynamic), e.g. to fix the batch: --input-shape x=1,12,4")
    p.add_argument("--input-dtype", choices=list(IO_DTYPES), help="int8/uint8/int16 inputs for every signature (needs --optimize int8 or static-*)")
    p.add_argument("--output-dtype", choices=list(IO_DTYPES), help="int8/uint8/int16 outputs for every signature (a spec's io_dtype picks per tensor)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="write without running the result against the source")
    p.add_argument("--target", dest="targets", type=csv, metavar="RUNTIME[,RUNTIME]",
                   help="app runtimes the file must run on, proven before writing: gpu (LiteRT 2 CompiledModel, GPU "
                        "accelerator: dynamic dims fixed to 1), compiled (CompiledModel, CPU), web (LiteRT.js in the browser's wasm build, "
                        "run in Node: dynamic dims fixed to 1; needs node and npm)")
    p.add_argument("--target-runtime", metavar="X.Y", help="the LiteRT/TensorFlow Lite release the app ships, e.g. 2.14: use converter "
                   "options that keep older op versions, refuse (exit 1, nothing written) a result it cannot load")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    common(p)


def add_demo(command: Command) -> None:
    p = command("demo", "build the seed example (two Keras models, one signature), convert it with float16 and show the result", cmd_demo)
    p.add_argument("directory", nargs="?", default="litesig-demo", help="where to write the example (default: ./litesig-demo)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an earlier demo's files")
    common(p)


def cmd_convert(args: argparse.Namespace, ui: Ui) -> int:
    from ..conversion.pipeline import convert

    with ui.progress() as progress:
        result = convert(
            args.source, args.output,
            optimize=args.optimize, calibration=args.calibration, select_tf_ops=args.select_tf_ops, unsafe=args.unsafe,
            signature=args.signature, signature_keys=args.signature_keys,
            input_names=args.input_names, output_names=args.output_names,
            input_shapes=parse_shapes(args.input_shape, allow_dynamic=True, where="convert") or None,
            input_map=parse_map(args.input_map, "--input-map") or None, output_map=parse_map(args.output_map, "--output-map") or None,
            code=args.code or None, verify_inputs=args.verify_inputs, dry_run=args.dry_run,
            input_dtype=args.input_dtype, output_dtype=args.output_dtype,
            target_runtime=args.target_runtime, targets=args.targets, force=args.force, verify=args.verify, progress=progress, _cli=True,
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




def cmd_demo(args: argparse.Namespace, ui: Ui) -> int:
    from .demo import run_demo

    with ui.progress() as progress:
        outcome = run_demo(Path(args.directory), force=args.force, progress=progress)
    if ui.json_mode:
        ui.print_json(outcome.to_dict())
        return 0
    from . import render

    render.demo(ui.console, outcome)
    return 0
