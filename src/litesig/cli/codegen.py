"""codegen: the app code that calls each signature."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._io import check_writable, write_atomic
from .ui import Command, Ui, common


def add_codegen(command: Command) -> None:
    p = command("codegen", "generate the Kotlin, Java, C++, C, Python or TypeScript code that calls each signature", cmd_codegen,
                "examples:\n  litesig codegen model.tflite --lang kotlin\n"
                "  litesig codegen model.tflite --lang kotlin --signature encode -o EncodeRunner.kt --package com.example.ml\n"
                "  litesig codegen model.tflite --lang kotlin --api compiled-model -o Runners.kt   (LiteRT 2 CompiledModel)\n"
                "  litesig codegen model.tflite --lang cpp -o model_runner.h\n"
                "  litesig codegen model.tflite --lang c -o model_runner.h   (LiteRT C API, libLiteRt.so)\n"
                "  litesig codegen model.tflite --lang python -o model_runner.py\n"
                "  litesig codegen model.tflite --lang typescript -o model.ts   (LiteRT.js; a file made with --target web)")
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--lang", required=True, choices=["kotlin", "java", "cpp", "c", "python", "typescript", "swift"], help="the language to generate")
    p.add_argument("--api", choices=["interpreter", "compiled-model"], default="interpreter",
                   help="Kotlin/Java: Interpreter.runSignature (default) or LiteRT 2's CompiledModel with TensorBuffers")
    p.add_argument("--signature", help="only this signature (default: all)")
    p.add_argument("--class-name", help="name of the generated class/namespace (default: from the file name)")
    p.add_argument("--package", help="Kotlin/Java: the package the file declares, e.g. com.example.app.ml")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    common(p)


def cmd_codegen(args: argparse.Namespace, ui: Ui) -> int:
    from ..codegen import generate_code

    class_name = args.class_name
    if class_name is None and args.output and args.lang in ("java", "kotlin"):
        class_name = Path(args.output).stem  # a public Java class must match its file name
    if args.output:
        check_writable(args.output, force=args.force, inputs=[args.model])
    code = generate_code(args.model, args.lang, signature=args.signature, class_name=class_name, api=args.api, package=args.package)
    if args.output:
        write_atomic(args.output, code.encode("utf-8"), replace=args.force)
        if ui.json_mode:
            ui.print_json({"path": args.output, "lang": args.lang, "bytes": len(code.encode("utf-8"))})
        else:
            ui.status(f"wrote {args.output}")  # status() makes it safe
    elif ui.json_mode:
        ui.print_json({"lang": args.lang, "code": code})
    else:
        sys.stdout.write(code)
    return 0
