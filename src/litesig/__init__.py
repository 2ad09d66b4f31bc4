"""litesig: TensorFlow SavedModels and Keras models to .tflite with the signatures you name, proven by running them.

The public API mirrors the CLI (`dir(litesig)` lists it). Attributes load lazily: `import litesig` imports neither
TensorFlow nor numpy; only `convert` and `verify` against a TensorFlow source import TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "convert": "conversion.pipeline",
    "ConvertResult": "conversion.pipeline",
    "Spec": "sources.spec",
    "ConvertOptions": "sources.spec",
    "ModelFlags": "conversion.flags",
    "load_spec": "sources.spec",
    "spec_from_dict": "sources.spec",
    "inspect": "tflite.model_info",
    "ModelInfo": "tflite.model_info",
    "run": "runtimes.interpreter",
    "Runner": "runtimes.interpreter",
    "verify": "verification.verify",
    "VerifyReport": "verification.parity",
    "Tolerance": "verification.parity",
    "bench": "runtimes.bench",
    "rename": "tflite.rename",
    "add_signature": "tflite.rename",
    "merge": "verification.merged",
    "quantize": "conversion.requantize",
    "QuantizeResult": "conversion.requantize",
    "MergeResult": "tflite.merge",
    "generate_code": "codegen",
    "LitesigError": "errors",
    "InvalidInput": "errors",
    "SignatureNotFound": "errors",
    "NotATFLiteModel": "errors",
    "ConversionFailed": "errors",
    "VerificationFailed": "errors",
}

__all__ = [
    "ConversionFailed", "ConvertOptions", "ConvertResult", "InvalidInput", "LitesigError", "MergeResult", "ModelFlags", "ModelInfo", "NotATFLiteModel", "QuantizeResult",
    "Runner", "SignatureNotFound", "Spec", "Tolerance", "VerificationFailed", "VerifyReport", "add_signature", "bench",
    "convert", "generate_code", "inspect", "load_spec", "merge", "quantize", "rename", "run", "spec_from_dict", "verify",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs; at run time __getattr__ loads these
    from .codegen import generate_code
    from .conversion.flags import ModelFlags
    from .conversion.pipeline import ConvertResult, convert
    from .conversion.requantize import QuantizeResult, quantize
    from .errors import ConversionFailed, InvalidInput, LitesigError, NotATFLiteModel, SignatureNotFound, VerificationFailed
    from .tflite.merge import MergeResult
    from .verification.merged import merge
    from .tflite.model_info import ModelInfo, inspect
    from .verification.parity import Tolerance, VerifyReport
    from .verification.verify import verify
    from .tflite.rename import add_signature, rename
    from .runtimes.bench import bench
    from .runtimes.interpreter import Runner, run
    from .sources.spec import ConvertOptions, Spec, load_spec, spec_from_dict


def __dir__() -> list[str]:
    return sorted(__all__ + ["__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'litesig' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
