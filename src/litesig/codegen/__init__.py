"""Code that calls each signature correctly: Kotlin, Java, C++ and Python, from templates in templates/.

The context is computed from the flatbuffer (no TensorFlow): names, dtypes, shapes with dynamic
dims as parameters, and the scale/zero point of quantized inputs and outputs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LitesigError
from ..model_info import ModelInfo, TensorInfo, inspect

LANGUAGES = ("kotlin", "java", "cpp", "python")
EXTENSIONS = {"kotlin": "kt", "java": "java", "cpp": "h", "python": "py"}

# dtype -> (Kotlin array, Java element, C++ element, numpy dtype)
_TYPES = {
    "float32": ("FloatArray", "float", "float", "np.float32"),
    "int32": ("IntArray", "int", "int32_t", "np.int32"),
    "int64": ("LongArray", "long", "int64_t", "np.int64"),
    "int16": ("ShortArray", "short", "int16_t", "np.int16"),
    "int8": ("ByteArray", "byte", "int8_t", "np.int8"),
    "uint8": ("ByteArray", "byte", "uint8_t", "np.uint8"),
    "bool": ("BooleanArray", "boolean", "bool", "np.bool_"),
}


@dataclass(frozen=True)
class Tensor:
    name: str
    ident: str  # camelCase identifier
    snake: str  # snake_case identifier
    dtype: str
    shape: list[int]
    dims: list[str]  # each dim as code: a number, "batch", or a parameter name
    kotlin_type: str
    kotlin_alloc: str
    java_type: str
    java_alloc: str
    cpp_type: str
    numpy: str
    scale: float | None
    zero_point: int | None


@dataclass(frozen=True)
class Signature:
    key: str
    class_name: str
    method: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    params: list[str]  # dynamic-dim parameters other than batch, in order
    batch_from: str | None  # the input whose first dim gives the batch, when it is dynamic


def generate_code(model: str | os.PathLike[str] | bytes, lang: str, *, signature: str | None = None, class_name: str | None = None) -> str:
    """Source code for `lang` (kotlin, java, cpp, python) wrapping every signature of `model`, or one.

    Raises:
        LitesigError: an unsupported language, or a signature these bindings cannot express.
    """
    if lang == "swift":
        raise LitesigError("Swift is not supported: LiteRT's Swift API (TensorFlowLiteSwift) has no signature runner; "
                           "call the model from Swift through the C API, or generate --lang cpp")
    if lang not in LANGUAGES:
        raise LitesigError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    info = inspect(model)
    if not info.signatures:
        raise LitesigError(f"{info.path}: the model has no signatures; add one with `litesig rename --add-signature`")
    keys = list(info.signatures)
    if signature is not None:
        if signature not in keys:
            from ..errors import SignatureNotFound

            raise SignatureNotFound(signature, keys)
        keys = [signature]
    sigs = [_signature(info, key, lang) for key in keys]
    base = class_name or _pascal(Path(info.path).stem if not info.path.startswith("<") else "model")
    return _render(f"{lang}.j2", model_path=Path(info.path).name, base_name=base, signatures=sigs, info=info)


def _render(template: str, **context: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    return env.get_template(template).render(**context)


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", name) if w]


def _pascal(name: str) -> str:
    out = "".join(w[:1].upper() + w[1:] for w in _words(name)) or "Model"
    return out if not out[0].isdigit() else f"M{out}"


def _camel(name: str) -> str:
    p = _pascal(name)
    return p[:1].lower() + p[1:]


def _snake(name: str) -> str:
    out = "_".join(w.lower() for w in _words(name)) or "x"
    return out if not out[0].isdigit() else f"x_{out}"


def _signature(info: ModelInfo, key: str, lang: str) -> Signature:
    sig = info.signatures[key]
    batch_from = next((t.name for t in sig.inputs.values() if t.shape and t.shape[0] == -1), None)
    params: list[str] = []
    inputs = []
    for t in sig.inputs.values():
        dims = []
        for i, d in enumerate(t.shape):
            if d != -1:
                dims.append(str(d))
            elif i == 0:
                dims.append("batch")
            else:
                param = f"{_camel(t.name)}Dim{i}" if lang in ("kotlin", "java") else f"{_snake(t.name)}_dim{i}"
                params.append(param)
                dims.append(param)
        inputs.append(_tensor(t, dims, lang, key))
    outputs = []
    for t in sig.outputs.values():
        dims = []
        for i, d in enumerate(t.shape):
            if d != -1:
                dims.append(str(d))
            elif i == 0 and batch_from is not None:
                dims.append("batch")
            elif lang in ("kotlin", "java"):
                raise LitesigError(
                    f"signature {key!r}: output {t.name!r} has shape {t.shape}; the {lang} bindings allocate outputs before the "
                    "call and can only size a dynamic batch dim. Fix the other dims at conversion, or use --lang cpp/python")
            else:
                dims.append("-1")
        outputs.append(_tensor(t, dims, lang, key))
    return Signature(key=key, class_name=_pascal(key), method=_snake(key), inputs=inputs, outputs=outputs, params=params, batch_from=batch_from)


def _tensor(t: TensorInfo, dims: list[str], lang: str, key: str) -> Tensor:
    if t.dtype not in _TYPES:
        raise LitesigError(f"signature {key!r}: {t.name!r} is {t.dtype}, which the generated {lang} code does not handle "
                           f"(supported: {', '.join(_TYPES)})")
    kotlin_array, java_elem, cpp_type, numpy = _TYPES[t.dtype]
    rank = max(1, len(dims))
    dims = dims or ["1"]
    kotlin_type = "Array<" * (rank - 1) + kotlin_array + ">" * (rank - 1)
    kotlin_alloc = f"{kotlin_array}({dims[-1]})"
    for d in reversed(dims[:-1]):
        kotlin_alloc = f"Array({d}) {{ {kotlin_alloc} }}"
    q = t.quantization
    return Tensor(
        name=t.name, ident=_camel(t.name), snake=_snake(t.name), dtype=t.dtype, shape=list(t.shape), dims=dims,
        kotlin_type=kotlin_type, kotlin_alloc=kotlin_alloc,
        java_type=java_elem + "[]" * rank, java_alloc=f"new {java_elem}" + "".join(f"[{d}]" for d in dims),
        cpp_type=cpp_type, numpy=numpy,
        scale=q.scale if q is not None and not q.per_axis else None,
        zero_point=q.zero_point if q is not None and not q.per_axis else None,
    )
