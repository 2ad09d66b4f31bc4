"""Load and run a .tflite on an older runtime (tflite-runtime), in that runtime's own virtualenv.

Run as a script with that environment's python, never imported by litesig: it needs only
numpy and tflite_runtime (or ai_edge_litert / tensorflow, whichever the environment has).

    python _legacy_runner.py MODEL [--inputs IN.npz --outputs OUT.npz]

Prints one JSON document: {"runtime", "version", "loaded", "error", "signatures", "ran"}.
Inputs are keyed "<signature>/<input>"; every signature with all its inputs in the file is run
by signature, and its outputs saved as "<signature>/<output>". Exit code 0 whatever the model
does (the JSON says); anything else means the runner itself failed.
"""

import argparse
import json
import sys


def _interpreter():
    try:
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime", getattr(tflite_runtime, "__version__", "?")
    except ImportError:
        pass
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert", getattr(ai_edge_litert, "__version__", "?")
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow", tf.__version__


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--inputs")
    p.add_argument("--outputs")
    args = p.parse_args(argv)
    import numpy as np

    Interpreter, runtime, version = _interpreter()
    result = {"runtime": runtime, "version": version, "loaded": False, "error": None, "signatures": {}, "ran": []}
    try:
        interpreter = Interpreter(model_path=args.model)
        interpreter.allocate_tensors()
    except Exception as e:  # the runtime refusing the file is the answer, not a failure of the runner
        result["error"] = f"{type(e).__name__}: {e}".strip()[:2000]
        print(json.dumps(result))
        return 0
    result["loaded"] = True
    signatures = interpreter.get_signature_list()
    result["signatures"] = {k: {"inputs": list(v["inputs"]), "outputs": list(v["outputs"])} for k, v in signatures.items()}
    if args.inputs:
        outputs = {}
        with np.load(args.inputs, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        for sig in sorted(signatures):
            feed = {name: arrays.get(f"{sig}/{name}") for name in signatures[sig]["inputs"]}
            if any(v is None for v in feed.values()):
                continue
            try:
                out = interpreter.get_signature_runner(sig)(**feed)
            except Exception as e:
                result["error"] = f"{sig}: {type(e).__name__}: {e}".strip()[:2000]
                continue
            outputs.update({f"{sig}/{k}": np.asarray(v) for k, v in out.items()})
            result["ran"].append(sig)
        if args.outputs:
            np.savez(args.outputs, **outputs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
