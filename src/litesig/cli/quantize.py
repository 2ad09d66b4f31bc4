"""quantize: a float .tflite from any tool to a smaller or integer one, proven against it (no TensorFlow)."""

from __future__ import annotations

import argparse

from ..sources.choices import IO_DTYPES, QUANTIZER_MODES  # building the parser imports no numpy, no spec parser
from ._terminal import for_terminal
from .ui import HELP_TARGET, Command, Ui, common

EPILOG = """\
examples:
  litesig quantize model.tflite -o model_dq8.tflite --optimize dynamic-int8
  litesig quantize model.tflite -o model_w4.tflite --optimize weight-only-int4
  litesig quantize model.tflite -o model_i8.tflite --optimize static-int8 --calibration calib.npz --input-dtype int8

Every signature of the result is run against the float file (the static modes on the calibration
samples) before it is written; a difference beyond the mode's tolerance exits 1 and writes nothing.
Needs the `quantize` extra (ai-edge-quantizer), not TensorFlow.
"""


def add_quantize(command: Command) -> None:
    p = command("quantize", "quantize an existing float .tflite (any tool's), names kept, proven against it", cmd_quantize, EPILOG)
    p.add_argument("model", help="the float .tflite")
    p.add_argument("-o", "--output", required=True, help="the .tflite to write")
    p.add_argument("--optimize", choices=["dynamic-int8", *QUANTIZER_MODES], help="the mode (ai-edge-quantizer recipes; see docs/quantization.md)")
    p.add_argument("--recipe", metavar="FILE.json", help="an ai-edge-quantizer recipe instead of --optimize")
    p.add_argument("--calibration", metavar="FILE.npz", help="static modes: sample inputs keyed '<signature>/<input>' or '<input>', "
                   "first axis = samples (or a .npy for one input)")
    p.add_argument("--input-dtype", choices=list(IO_DTYPES), help="int8/int16 (or uint8) inputs for every signature (static modes)")
    p.add_argument("--output-dtype", choices=list(IO_DTYPES), help="likewise for outputs")
    p.add_argument("--target-runtime", metavar="X.Y", help=HELP_TARGET)
    p.add_argument("--no-verify", dest="verify", action="store_false", help="write without running the result against the float file")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    common(p)


def cmd_quantize(args: argparse.Namespace, ui: Ui) -> int:
    from ..conversion.requantize import quantize

    with ui.progress() as progress:
        result = quantize(args.model, args.output, optimize=args.optimize, recipe=args.recipe, calibration=args.calibration,
                          input_dtype=args.input_dtype, output_dtype=args.output_dtype, target_runtime=args.target_runtime,
                          force=args.force, verify=args.verify, progress=progress)
    if ui.json_mode:
        ui.print_json(result.to_dict())
        return 0
    line = (f"wrote {for_terminal(result.path)} ({result.size_bytes / 1e3:.1f} kB from {result.source_bytes / 1e3:.1f} kB, "
            f"{for_terminal(result.precision, 300)}, " + ("verified)" if result.verification else "NOT verified)"))
    if ui.quiet:
        ui.console.print(line, markup=False)
        return 0
    from . import render

    if result.verification is not None:
        render.verification(ui.console, result.verification)
    for note in result.notes:
        ui.console.print(f"note: {for_terminal(note, 2000)}", markup=False)
    ui.console.print(line, markup=False)
    return 0
