"""Code that calls each signature correctly: Kotlin, Java, C++, C and Python, from templates in templates/.

The context is computed from the flatbuffer (no TensorFlow): names, dtypes, shapes with dynamic
dims as parameters, and the scale/zero point of quantized inputs and outputs. Every name from the
file reaches the templates only through `names` (escaped literals, sanitized identifiers,
percent-encoded comment text): templates never print a raw name.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LitesigError
from ..tflite.model_info import ModelInfo, TensorInfo, inspect
from . import names
from .names import Scope

LANGUAGES = ("kotlin", "java", "cpp", "c", "python", "typescript")
CAMEL = ("kotlin", "java", "typescript")  # camelCase members, PascalCase words; the others snake_case
APIS = ("interpreter", "compiled-model")  # Kotlin/Java: Interpreter.runSignature or LiteRT 2's CompiledModel
EXTENSIONS = {"kotlin": "kt", "java": "java", "cpp": "h", "c": "h", "python": "py", "typescript": "ts"}
# dtype -> the typed array LiteRT.js takes and gives (only these cross its boundary)
_TS_ARRAYS = {"float32": "Float32Array", "int32": "Int32Array", "uint8": "Uint8Array"}

# Bounds on what a file may ask the generated code to allocate: beyond them we refuse, with a message.
MAX_RANK = 16
MAX_ELEMENTS = 2**31 - 1  # Java/Kotlin arrays are int-indexed; no tensor a phone runs is larger

# dtype -> (Kotlin array, Java element, C element, numpy dtype, LiteRtElementType code)
_TYPES = {
    "float32": ("FloatArray", "float", "float", "np.float32", 1),
    "int32": ("IntArray", "int", "int32_t", "np.int32", 3),
    "int64": ("LongArray", "long", "int64_t", "np.int64", 4),
    "int16": ("ShortArray", "short", "int16_t", "np.int16", 7),
    "int8": ("ByteArray", "byte", "int8_t", "np.int8", 9),
    "uint8": ("ByteArray", "byte", "uint8_t", "np.uint8", 5),
    "bool": ("BooleanArray", "boolean", "bool", "np.bool_", 6),
}
# dtype -> the TensorBuffer write/read suffix of LiteRT's Kotlin CompiledModel API (writeFloat, readInt8, ...);
# uint8 travels as the same bytes through writeInt8/readInt8. int16 has no TensorBuffer method.
_BUFFER_SUFFIX = {"float32": "Float", "int32": "Int", "int64": "Long", "int8": "Int8", "uint8": "Int8", "bool": "Boolean"}
_ITEMSIZE = {"float32": 4, "int32": 4, "int64": 8, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
_QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Quant:
    scale: str  # a float32 literal without suffix, e.g. "0.003921569"
    zero_point: int
    qmin: int
    qmax: int


@dataclass(frozen=True)
class Tensor:
    name: str  # the real name: templates use `lit` and `doc`, never this
    lit: str  # the name as a string literal of the target language
    doc: str  # the name for comments (percent-encoded)
    ident: str  # parameter / field identifier (camelCase or snake_case per language)
    shape_ident: str  # C++: the field that holds an output's shape
    const: str  # constant holding the real name
    dtype: str
    shape: list[int]
    shape_text: str
    dims: list[str]  # each dim as code: a number, "batch", or a parameter name
    kotlin_type: str
    kotlin_elem: str
    kotlin_alloc: str
    java_type: str
    java_elem: str
    java_alloc: str
    c_type: str
    numpy: str
    element_code: int
    index: int
    quant: Quant | None
    quantize: str  # helper names (claimed even when unused, so they never shift other identifiers)
    dequantize: str
    stored_shape: list[int]  # the shape the file stores (dynamic dims at their stored size): CompiledModel's buffers
    flat_count: int  # elements of a CompiledModel buffer: the product of stored_shape
    buffer_suffix: str  # TensorBuffer.write<suffix>/read<suffix> ("" when the CompiledModel API has none)
    ts_array: str  # TypeScript: the typed array LiteRT.js takes and gives ("" for dtypes it has none for)
    nbytes: int = 0  # bytes of the stored shape: a ByteBuffer input's capacity


@dataclass(frozen=True)
class Signature:
    key: str
    lit: str
    doc: str
    index: int
    class_name: str
    method: str
    const: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    params: list[str]  # dynamic-dim parameters other than batch, in order
    batch_from: str | None  # the identifier of the input whose first dim gives the batch, when it is dynamic
    fixed: bool = False  # every input's shape is fixed: a ByteBuffer form can be offered


def generate_code(model: str | os.PathLike[str] | bytes, lang: str, *, signature: str | None = None,
                  class_name: str | None = None, api: str = "interpreter", package: str | None = None) -> str:
    """Source code for `lang` (kotlin, java, cpp, c, python, typescript) wrapping every signature of `model`, or one.

    Args:
        model: the .tflite file (path or bytes).
        lang: the target language.
        signature: only this signature (default: all).
        class_name: the generated class / namespace / prefix (sanitized like any name).
        api: Kotlin/Java only: "interpreter" (Interpreter.runSignature) or "compiled-model" (LiteRT 2's
            CompiledModel with TensorBuffers, flat arrays).
        package: Kotlin/Java only: the package the generated file declares (e.g. "com.example.app.ml").

    Raises:
        LitesigError: an unsupported language or API, or a signature these bindings cannot express.
    """
    if api not in APIS:
        raise LitesigError(f"unknown API {api!r}; expected one of {', '.join(APIS)}")
    if api == "compiled-model" and lang not in ("kotlin", "java"):
        raise LitesigError(f"--api compiled-model is for --lang kotlin or java; --lang {lang} has one API"
                           + (" (--lang c is the CompiledModel C API)" if lang in ("cpp", "c") else ""))
    if lang == "swift":
        raise LitesigError("Swift is not supported: LiteRT's Swift API (TensorFlowLiteSwift) has no signature runner; "
                           "call the model from Swift through the C API, or generate --lang c")
    if lang not in LANGUAGES:
        raise LitesigError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    if package is not None:
        _check_package(package, lang)
    from ..tflite import flatbuffer as fb
    from .._io import describe
    from ..tflite.validate import validate

    validate(fb.read_model(model), describe(model))  # a file LiteRT would refuse (or a 4M-dim shape) gets no code
    info = inspect(model)
    if not info.signatures:
        raise LitesigError(f"{info.path}: the model has no signatures; add one with `litesig rename --add-signature`")
    keys = list(info.signatures)
    if signature is not None:
        if signature not in keys:
            from ..errors import SignatureNotFound

            raise SignatureNotFound(signature, keys)
    file_name = Path(info.path).name if not info.path.startswith("<") else "model.tflite"
    stem = Path(info.path).stem if not info.path.startswith("<") else "model"
    base = _base_name(lang, class_name or stem)
    stored = _stored_shapes(model)
    if lang == "typescript":
        _check_web(info, keys if signature is None else [signature])
    sigs = _signatures(info, keys, signature, lang, stored, api)
    if lang == "typescript" and base in {f"{s.class_name}{side}" for s in sigs for side in ("Inputs", "Outputs")}:
        base += "Model"  # the class and a signature's interface share one namespace
    template = f"{lang}_compiled.j2" if api == "compiled-model" else f"{lang}.j2"
    return _render(template, model_file=file_name, base_name=base, signatures=sigs, lang=lang, package=package)


def _check_web(info: ModelInfo, keys: list[str]) -> None:
    """TypeScript calls LiteRT.js, which cannot resize an input and moves only float32, int32 and uint8: refuse the rest."""
    problems = []
    for key in keys:
        sig = info.signatures[key]
        for kind, tensors in (("input", sig.inputs), ("output", sig.outputs)):
            for t in tensors.values():
                where = f"{names.comment_text(key)}/{names.comment_text(t.name)}"
                if t.dtype not in _TS_ARRAYS:
                    problems.append(f"{kind} {where} is {t.dtype}; LiteRT.js takes only {', '.join(_TS_ARRAYS)} (use uint8 I/O)")
                elif -1 in t.shape:
                    problems.append(f"{kind} {where} has the dynamic shape {t.shape}; LiteRT.js cannot resize "
                                    "(convert with --target web, or --input-shape)")
    if problems:
        raise LitesigError(f"{info.path}: --lang typescript calls LiteRT.js, which cannot run this file: " + "; ".join(problems[:5]))


def _check_package(package: str, lang: str) -> None:
    """A Kotlin/Java package name: dotted identifiers, none a keyword; InvalidInput saying which part is wrong."""
    from ..errors import InvalidInput, Problem

    if lang not in ("kotlin", "java"):
        raise InvalidInput("codegen", [Problem("--package", f"only Kotlin and Java files declare a package, not --lang {lang}")])
    for part in package.split("."):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part) or part in names.keywords(lang):
            raise InvalidInput("codegen", [Problem("--package", f"{package!r}: {part!r} is not a {lang} identifier "
                                                   "(dotted names of letters, digits and '_', no keywords)")])


def _stored_shapes(model: str | os.PathLike[str] | bytes) -> dict[tuple[int, int], list[int]]:
    """(subgraph, tensor index) -> the shape field the file stores: the runtime's shape before any resize."""
    from ..tflite import flatbuffer as fb

    parsed = fb.read_model(model)
    out = {}
    for s in parsed.signatures:
        sg = parsed.subgraphs[s.subgraph_index]
        for tm in (*s.inputs, *s.outputs):
            out[(s.subgraph_index, tm.tensor_index)] = list(sg.tensors[tm.tensor_index].shape)
    return out


def _base_name(lang: str, wanted: str) -> str:
    if lang in ("cpp", "c"):
        return Scope(lang).claim(names.snake(wanted, "model"))
    return Scope(lang).claim(names.pascal(wanted, "Model"))


def _render(template: str, **context: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False,  # not HTML: every name is escaped for its language by the filters below
    )
    lang = context["lang"]
    env.filters["lit"] = lambda text: names.literal(lang, str(text))
    env.filters["doc"] = lambda text: names.comment_text(str(text))
    return env.get_template(template).render(**context)


def _ident(lang: str, name: str, fallback: str = "x") -> str:
    return names.camel(name, fallback) if lang in CAMEL else names.snake(name, fallback)


def _signatures(info: ModelInfo, keys: list[str], only: str | None, lang: str, stored: dict[tuple[int, int], list[int]],
                api: str) -> list[Signature]:
    """Every signature's context; identifiers claimed in file order, so the same file gives the same code."""
    types = Scope(lang, fold_case=True)  # class names: also unique ignoring case (files on case-insensitive disks)
    members = Scope(lang, ["run", "close", "load", "open", "main", "delete", "model", "quantize", "dequantize", "invoke", "find_signature",
                                  "quantize_value", "io", "model", "checkSize", "closeAll"])
    consts = Scope(lang, ["SIGNATURE", "MODEL_FILE", "SIGNATURES", "NO_SIGNATURE", "NO_TENSOR", "SIZE_MISMATCH", "TOO_MANY",
                                 "LITESIG_H_"])
    out = []
    for index, key in enumerate(keys):
        class_name = types.claim(names.pascal(key, "Signature"))
        method = members.claim(_ident(lang, key, "signature"), sep="_" if lang not in CAMEL else "")
        const = consts.claim(names.snake(key, "signature").upper() + "_SIGNATURE")
        if only is not None and key != only:
            continue
        out.append(_signature(info, key, index, lang, class_name, method, const, members, consts, stored, api))
    return out


def _signature(info: ModelInfo, key: str, index: int, lang: str, class_name: str, method: str, const: str,
               members: Scope, consts: Scope, stored: dict[tuple[int, int], list[int]], api: str) -> Signature:
    sig = info.signatures[key]
    compiled = api == "compiled-model"
    local = Scope(lang)
    sep = "" if lang in CAMEL else "_"
    idents = {t.name: local.claim(_ident(lang, t.name), sep=sep) for t in sig.inputs.values()}
    out_idents = {t.name: local.claim(_ident(lang, t.name), sep=sep) for t in sig.outputs.values()}
    shape_idents = {t.name: local.claim(out_idents[t.name] + "_shape") for t in sig.outputs.values()}
    batch_input = next((t.name for t in sig.inputs.values() if t.shape and t.shape[0] == -1), None)
    params: list[str] = []
    inputs = []
    for i, t in enumerate(sig.inputs.values()):
        _check_shape(key, t, 8 if lang == "c" else MAX_RANK)  # LiteRT's C layout holds 8 dims
        dims = []
        for d_index, d in enumerate(t.shape):
            if d != -1:
                dims.append(str(d))
            elif d_index == 0:
                dims.append("batch")
            else:
                suffix = f"Dim{d_index}" if lang in CAMEL else f"_dim{d_index}"
                param = local.claim(idents[t.name] + suffix, sep=sep)
                params.append(param)
                dims.append(param)
        inputs.append(_tensor(t, i, idents[t.name], "", dims, lang, key, members, consts, stored[(sig.subgraph, t.index)], compiled))
    outputs = []
    for i, t in enumerate(sig.outputs.values()):
        _check_shape(key, t, 8 if lang == "c" else MAX_RANK)  # LiteRT's C layout holds 8 dims
        dims = []
        for d_index, d in enumerate(t.shape):
            if d != -1:
                dims.append(str(d))
            elif d_index == 0 and batch_input is not None:
                dims.append("batch")
            elif lang in ("kotlin", "java", "c") and not compiled:
                raise LitesigError(
                    f"signature {names.comment_text(key)!r}: output {names.comment_text(t.name)!r} has shape {t.shape}; the "
                    f"{lang} bindings allocate outputs before the call and can only size a dynamic batch dim. Fix the other "
                    "dims at conversion, or use --lang c/cpp/python")
            else:
                dims.append("-1")
        outputs.append(_tensor(t, i, out_idents[t.name], shape_idents[t.name], dims, lang, key, members, consts,
                               stored[(sig.subgraph, t.index)], compiled))
    return Signature(key=key, lit=names.literal(lang, key), doc=names.comment_text(key), index=index,
                     class_name=class_name, method=method, const=const, inputs=inputs, outputs=outputs, params=params,
                     fixed=all(-1 not in t.shape for t in inputs),
                     batch_from=idents[batch_input] if batch_input is not None else None)


def _check_shape(key: str, t: TensorInfo, max_rank: int = MAX_RANK) -> None:
    where = f"signature {names.comment_text(key)!r}: {names.comment_text(t.name)!r}"
    if len(t.shape) > max_rank:
        raise LitesigError(f"{where} has rank {len(t.shape)}; generated code supports rank <= {max_rank}")
    known = 1
    for d in t.shape:
        if d < -1 or d > MAX_ELEMENTS:
            raise LitesigError(f"{where} has a dimension of {d}; expected -1 (dynamic) or 0..{MAX_ELEMENTS}")
        known *= max(d, 1)
        if known > MAX_ELEMENTS:
            raise LitesigError(f"{where} has more than {MAX_ELEMENTS} elements (shape {t.shape}); "
                               "generated code refuses tensors no app array can hold")


def _tensor(t: TensorInfo, index: int, ident: str, shape_ident: str, dims: list[str], lang: str, key: str, members: Scope,
            consts: Scope, stored_shape: list[int], compiled: bool) -> Tensor:
    if t.dtype not in _TYPES:
        raise LitesigError(f"signature {names.comment_text(key)!r}: {names.comment_text(t.name)!r} is {t.dtype}, which the "
                           f"generated {lang} code does not handle (supported: {', '.join(_TYPES)})")
    if compiled and t.dtype not in _BUFFER_SUFFIX:
        raise LitesigError(f"signature {names.comment_text(key)!r}: {names.comment_text(t.name)!r} is {t.dtype}, which LiteRT's "
                           f"Kotlin/Java TensorBuffer cannot write or read (it has {', '.join(sorted(set(_BUFFER_SUFFIX.values())))}); "
                           "use --api interpreter")
    if compiled:
        _check_shape(key, TensorInfo(t.name, t.dtype, stored_shape, t.tensor, t.index, None))
    kotlin_array, java_elem, c_type, numpy, element_code = _TYPES[t.dtype]
    rank = max(1, len(dims))
    dims = dims or ["1"]
    kotlin_alloc = "".join(f"Array({d}) {{ " for d in dims[:-1]) + f"{kotlin_array}({dims[-1]})" + " }" * (rank - 1)
    word = names.pascal(t.name, "X") if lang in CAMEL else names.snake(t.name)
    sep = "" if lang in CAMEL else "_"
    quantize = members.claim(f"quantize{sep}{word}", sep=sep)
    dequantize = members.claim(f"dequantize{sep}{word}", sep=sep)
    const_base = names.snake(key, "signature").upper() + "_" + names.snake(t.name).upper()
    return Tensor(
        name=t.name, lit=names.literal(lang, t.name), doc=names.comment_text(t.name), ident=ident, shape_ident=shape_ident,
        const=consts.claim(const_base), dtype=t.dtype, shape=list(t.shape), shape_text=str(list(t.shape)), dims=dims,
        kotlin_type="Array<" * (rank - 1) + kotlin_array + ">" * (rank - 1), kotlin_alloc=kotlin_alloc,
        kotlin_elem=kotlin_array.removesuffix("Array"), java_type=java_elem + "[]" * rank, java_elem=java_elem, java_alloc=f"new {java_elem}" + "".join(f"[{d}]" for d in dims),
        c_type=c_type, numpy=numpy, element_code=element_code, index=index, quant=_quant(t, key),
        quantize=quantize, dequantize=dequantize, stored_shape=list(stored_shape),
        flat_count=math.prod(max(d, 0) for d in stored_shape), buffer_suffix=_BUFFER_SUFFIX.get(t.dtype, ""),
        ts_array=_TS_ARRAYS.get(t.dtype, ""),
        nbytes=math.prod(max(d, 0) for d in stored_shape) * _ITEMSIZE[t.dtype],
    )


def _quant(t: TensorInfo, key: str) -> Quant | None:
    q = t.quantization
    if q is None or q.per_axis or q.scale is None or q.zero_point is None or t.dtype not in _QRANGE:
        return None
    qmin, qmax = _QRANGE[t.dtype]
    scale = np.float32(q.scale)
    if not (math.isfinite(float(scale)) and float(scale) > 0) or not qmin <= q.zero_point <= qmax:
        raise LitesigError(f"signature {names.comment_text(key)!r}: {names.comment_text(t.name)!r} has scale {q.scale} and "
                           f"zero point {q.zero_point}; expected a finite scale > 0 and a zero point in [{qmin}, {qmax}]")
    text = str(scale)
    return Quant(scale=text if ("." in text or "e" in text) else text + ".0", zero_point=int(q.zero_point), qmin=qmin, qmax=qmax)
