"""litesig: TensorFlow SavedModels and Keras models to .tflite with the signatures you name, proven by running them.

The public API mirrors the CLI. Attributes load lazily: `import litesig` imports neither
TensorFlow nor numpy; only `convert` and `verify` against a TensorFlow source import TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "convert": "conversion",
    "ConvertResult": "conversion",
    "Spec": "spec",
    "ConvertOptions": "spec",
    "load_spec": "spec",
    "spec_from_dict": "spec",
    "inspect": "model_info",
    "ModelInfo": "model_info",
    "run": "runtime",
    "Runner": "runtime",
    "verify": "verification",
    "VerifyReport": "parity",
    "Tolerance": "parity",
    "bench": "runtime",
    "rename": "renaming",
    "add_signature": "renaming",
    "merge": "merging",
    "MergeResult": "merging",
    "generate_code": "codegen",
    "LitesigError": "errors",
    "InvalidInput": "errors",
    "SignatureNotFound": "errors",
    "NotATFLiteModel": "errors",
    "ConversionFailed": "errors",
    "VerificationFailed": "errors",
}

__all__ = [
    "ConversionFailed", "ConvertOptions", "ConvertResult", "InvalidInput", "LitesigError", "MergeResult", "ModelInfo", "NotATFLiteModel",
    "Runner", "SignatureNotFound", "Spec", "Tolerance", "VerificationFailed", "VerifyReport", "add_signature", "bench",
    "convert", "generate_code", "inspect", "load_spec", "merge", "rename", "run", "spec_from_dict", "verify",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs; at run time __getattr__ loads these
    from .codegen import generate_code
    from .conversion import ConvertResult, convert
    from .errors import (ConversionFailed, InvalidInput, LitesigError, NotATFLiteModel,
                         SignatureNotFound, VerificationFailed)
    from .merging import MergeResult, merge
    from .model_info import ModelInfo, inspect
    from .parity import Tolerance, VerifyReport
    from .verification import verify
    from .renaming import add_signature, rename
    from .runtime import Runner, bench, run
    from .spec import ConvertOptions, Spec, load_spec, spec_from_dict


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'litesig' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
