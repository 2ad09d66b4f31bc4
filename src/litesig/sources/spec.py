"""The signature spec: TOML (or a dict) -> frozen dataclasses, every problem listed at once.

A spec names the source models, the signatures to build from them, and how to convert:

    [models.a]
    path = "model_a.keras"

    [signatures.sample_method_name.inputs]
    x_input = { dtype = "float32", shape = [-1, 128, 3] }

    [signatures.sample_method_name.outputs]
    my_output_a = "a"

    [convert]
    optimize = "float16"
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._names import name_problem
from .._io import source_problem
from .._toml import read_toml
from ..errors import InvalidInput, LitesigError, Problem

from .choices import CONVERTER_MODES, FIXED_SHAPE_TARGETS, IO_DTYPES, OPTIMIZE_MODES, QUANTIZER_MODES, TARGETS  # noqa: F401 (re-exported)
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool")

_REF = re.compile(r"^(?P<model>[^.\[\]]+)(?:\.(?P<name>[^\[\]]+)|\[(?P<index>\d+)\])?$")


@dataclass(frozen=True)
class ModelSource:
    """A source model: a .keras/.h5 file or a SavedModel directory."""

    key: str
    path: Path
    signature: str | None = None  # SavedModel only: which of its signatures to call


@dataclass(frozen=True)
class InputSpec:
    """A signature input. dtype/shape None means: take it from the model input it feeds."""

    name: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None  # -1 = dynamic
    range: tuple[float, float] | None = None  # [low, high) of realistic values, for verification
    io_dtype: str | None = None  # int8 / uint8 / int16: the type the app feeds (the file quantizes); None: the signature's


@dataclass(frozen=True)
class OutputRef:
    """A signature output: which model computes it, from which inputs, and which of its outputs."""

    name: str
    model: str
    output: str | int | None = None  # None: the model's only output
    inputs: tuple[str, ...] | None = None  # positional, in the model's declared order; None: route by the rules in docs/spec.md
    input_map: tuple[tuple[str, str], ...] | None = None  # by name: (model input, signature input) pairs
    io_dtype: str | None = None  # int8 / uint8 / int16: the type the app reads; None: the signature's


@dataclass(frozen=True)
class SignatureSpec:
    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputRef, ...]
    io_dtype: str | None = None  # default for every input and output (float32 = keep float)
    metadata: Any = None  # [signatures.NAME.metadata]: a tflite.metadata.ModelMetadata convert writes into the file


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert. The same fields as the spec's [convert] table and the CLI flags."""

    optimize: str = "none"
    calibration: Path | None = None
    recipe: Path | None = None  # an ai-edge-quantizer recipe .json applied to the float conversion
    select_tf_ops: bool = False
    unsafe: bool = False  # lift Keras' safe mode when loading .keras files
    code: tuple[Path, ...] = ()  # Python files defining custom layers/models, imported before loading (needs unsafe)
    verify_inputs: Path | None = None  # .npz of the user's own inputs for the built-in verification
    target_runtime: str | None = None  # the LiteRT/TF Lite release the app ships, e.g. "2.14": refuse results it cannot load
    targets: tuple[str, ...] = ()  # app runtimes the file must run on: "gpu" (fixed shapes), "compiled"; proven before writing
    input_dtype: str | None = None  # int8/uint8/int16 for every input of every signature (over the spec's io_dtype)
    output_dtype: str | None = None  # likewise for every output

    def problems(self, where: str = "convert") -> list[Problem]:
        out = []
        if self.code and not self.unsafe:
            out.append(Problem(f"{where}.code", "importing Python files runs their code: pass --unsafe too "
                                                "(`unsafe = true` under [convert]) if you trust them"))
        for c in self.code:
            if not Path(c).is_file():
                out.append(Problem(f"{where}.code", f"no such file: {c}"))
        if self.verify_inputs is not None and not Path(self.verify_inputs).is_file():
            out.append(Problem("verify.inputs", f"no such file: {self.verify_inputs}"))
        if self.target_runtime is not None:
            from ..tflite.runtime_compat import target_problem

            problem = target_problem(self.target_runtime)
            if problem:
                out.append(Problem(f"{where}.target_runtime", problem))
        for target in self.targets:
            if target not in TARGETS:
                out.append(Problem(f"{where}.targets", f"unknown target {target!r}; expected one of {', '.join(TARGETS)}"))
        if "web" in self.targets:
            for side, dtype in (("input_dtype", self.input_dtype), ("output_dtype", self.output_dtype)):
                if dtype in ("int8", "int16"):
                    out.append(Problem(f"{where}.{side}", f"{dtype} does not cross LiteRT.js's boundary (--target web): use uint8"))
        if self.optimize not in OPTIMIZE_MODES:
            out.append(Problem(f"{where}.optimize", f"unknown mode {self.optimize!r}; expected one of {', '.join(OPTIMIZE_MODES)}"))
        if self.optimize in ("int8", "static-int8", "static-int16") and self.calibration is None:
            out.append(Problem(f"{where}.calibration", f"optimize = \"{self.optimize}\" needs calibration data (an .npz of sample inputs)"))
        if self.recipe is not None and not Path(self.recipe).is_file():
            out.append(Problem(f"{where}.recipe", f"no such file: {self.recipe}"))
        if self.recipe is not None and self.optimize != "none":
            out.append(Problem(f"{where}.recipe", f"a recipe decides the quantization itself; leave optimize out (it is {self.optimize!r})"))
        if self.calibration is not None and not Path(self.calibration).is_file():
            out.append(Problem(f"{where}.calibration", f"no such file: {self.calibration}"))
        return out


@dataclass(frozen=True)
class Spec:
    """A whole conversion: models, signatures (in declared order), options."""

    models: Mapping[str, ModelSource]
    signatures: tuple[SignatureSpec, ...]
    options: ConvertOptions = field(default_factory=ConvertOptions)
    source: str = "<spec>"
    notes: tuple[str, ...] = ()  # how the model-path form's flags were read (e.g. the order positional names follow)

    def signature(self, name: str) -> SignatureSpec:
        for sig in self.signatures:
            if sig.name == name:
                return sig
        from ..errors import SignatureNotFound

        raise SignatureNotFound(name, [s.name for s in self.signatures])


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a TOML spec file; relative paths in it are relative to its folder.

    Raises:
        InvalidInput: listing every problem, each with its key path.
    """
    path = Path(path)
    data = read_toml(path)
    return spec_from_dict(data, base_dir=path.parent, source=str(path))


def spec_from_dict(data: Mapping[str, Any], *, base_dir: str | os.PathLike[str] = ".", source: str = "<spec>") -> Spec:
    """Build a Spec from parsed TOML (or any mapping of the same shape)."""
    base = Path(base_dir)
    problems: list[Problem] = []
    _unknown_keys(data, {"models", "signatures", "convert", "verify"}, "", problems)

    models = _parse_models(data.get("models"), base, problems)
    signatures = _parse_signatures(data.get("signatures"), models, problems, base)
    options = _parse_options(data.get("convert", {}), base, problems, data.get("verify", {}))
    if problems:
        raise InvalidInput(source, problems)
    return Spec(models=models, signatures=signatures, options=options, source=source)


def _unknown_keys(table: Mapping[str, Any], known: set[str], where: str, problems: list[Problem]) -> None:
    for key in table:
        if key not in known:
            at = f"{where}.{key}" if where else key
            problems.append(Problem(at, f"unknown key; expected one of {', '.join(sorted(known))}"))


def _parse_models(raw: Any, base: Path, problems: list[Problem]) -> dict[str, ModelSource]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(Problem("models", "expected at least one [models.<key>] table with a path"))
        return {}
    models = {}
    for key, entry in raw.items():
        where = f"models.{key}"
        if not isinstance(entry, Mapping):
            problems.append(Problem(where, "expected a table with `path` (and optionally `signature`)"))
            continue
        _unknown_keys(entry, {"path", "signature"}, where, problems)
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            problems.append(Problem(f"{where}.path", "expected the path of a .keras/.h5 file or a SavedModel directory"))
            continue
        resolved = (base / path) if not os.path.isabs(path) else Path(path)
        unusable = source_problem(resolved)
        if unusable:
            problems.append(Problem(f"{where}.path", f"{unusable}: {resolved}"))
        signature = entry.get("signature")
        if signature is not None and not isinstance(signature, str):
            problems.append(Problem(f"{where}.signature", "expected the name of one of the SavedModel's signatures"))
            signature = None
        models[key] = ModelSource(key=key, path=resolved, signature=signature)
    return models


def _parse_signatures(raw: Any, models: Mapping[str, ModelSource], problems: list[Problem],
                      base: Path = Path(".")) -> tuple[SignatureSpec, ...]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(Problem("signatures", "expected at least one [signatures.<name>.inputs] and [signatures.<name>.outputs]"))
        return ()
    signatures = []
    for sig_name, body in raw.items():
        where = f"signatures.{sig_name}"
        why = name_problem(sig_name)
        if why:
            problems.append(Problem(where, why))
        if not isinstance(body, Mapping):
            problems.append(Problem(where, "expected a table with `inputs` and `outputs`"))
            continue
        _unknown_keys(body, {"inputs", "outputs", "io_dtype", "metadata"}, where, problems)
        io_dtype = _io_dtype(body, where, problems)
        inputs = _parse_inputs(body.get("inputs"), f"{where}.inputs", problems)
        input_names = {i.name for i in inputs}
        outputs = _parse_outputs(body.get("outputs"), f"{where}.outputs", models, input_names, problems)
        metadata = _parse_metadata(body["metadata"], f"{where}.metadata", base, problems) if "metadata" in body else None
        signatures.append(SignatureSpec(name=sig_name, inputs=tuple(inputs), outputs=tuple(outputs), io_dtype=io_dtype,
                                        metadata=metadata))
    if sum(s.metadata is not None for s in signatures) and len(signatures) > 1:
        problems.append(Problem("signatures", "metadata is for MediaPipe Tasks, which run a file of one signature: "
                                              "write it in a spec of one signature"))
    return tuple(signatures)


_METADATA_TEXT = ("name", "description", "version", "author", "license", "color_space", "labels")


def _parse_metadata(raw: Any, where: str, base: Path, problems: list[Problem]) -> Any:
    """[signatures.NAME.metadata]: what `litesig metadata` takes, as keys (labels: a file relative to the spec)."""
    from ..tflite.metadata import COLOR_SPACES, ModelMetadata, parse_labels

    if not isinstance(raw, Mapping):
        problems.append(Problem(where, "expected a table (name, description, version, author, license, mean, std, "
                                       "color_space, labels, score_threshold)"))
        return None
    _unknown_keys(raw, {*_METADATA_TEXT, "mean", "std", "score_threshold"}, where, problems)
    for key in _METADATA_TEXT:
        if key in raw and not isinstance(raw[key], str):
            problems.append(Problem(f"{where}.{key}", "expected a string"))
            return None
    numbers: dict[str, tuple[float, ...]] = {}
    for key in ("mean", "std"):
        value = raw.get(key, [])
        values = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            problems.append(Problem(f"{where}.{key}", "expected a number or a list of numbers (one per channel)"))
            return None
        numbers[key] = tuple(float(v) for v in values)
    threshold = raw.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        problems.append(Problem(f"{where}.score_threshold", "expected a number"))
        return None
    color = raw.get("color_space", "rgb")
    if color not in COLOR_SPACES:
        problems.append(Problem(f"{where}.color_space", f"{color!r}; expected one of {', '.join(COLOR_SPACES)}"))
        return None
    labels: tuple[str, ...] = ()
    if "labels" in raw:
        from .._io import read_text
        from .._limits import max_text_bytes

        path = base / raw["labels"]
        try:
            labels, why = parse_labels(read_text(path, max_text_bytes(), "labels file"))
        except (OSError, UnicodeDecodeError, LitesigError) as e:
            problems.append(Problem(f"{where}.labels", f"{path}: cannot read it as UTF-8 text ({e})"))
            return None
        if why:
            problems.append(Problem(f"{where}.labels", f"{path}: {why}"))
            return None
    return ModelMetadata(name=raw.get("name"), description=raw.get("description"), version=raw.get("version"),
                         author=raw.get("author"), license=raw.get("license"), mean=numbers["mean"], std=numbers["std"],
                         color_space=color, labels=labels, score_threshold=None if threshold is None else float(threshold))


def _parse_inputs(raw: Any, where: str, problems: list[Problem]) -> list[InputSpec]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(Problem(where, "expected at least one input: name = { dtype = \"float32\", shape = [-1, 128, 3] }"))
        return []
    inputs = []
    for name, entry in raw.items():
        at = f"{where}.{name}"
        why = name_problem(name)
        if why:
            problems.append(Problem(at, why))
        if not isinstance(entry, Mapping):
            problems.append(Problem(at, "expected a table: { dtype = \"float32\", shape = [-1, 128, 3] } (both optional)"))
            continue
        _unknown_keys(entry, {"dtype", "shape", "range", "io_dtype"}, at, problems)
        dtype = entry.get("dtype")
        if dtype is not None and dtype not in DTYPES:
            problems.append(Problem(f"{at}.dtype", f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}"))
        shape = entry.get("shape")
        if shape is not None:
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and (d == -1 or d > 0) for d in shape
            ):
                problems.append(Problem(f"{at}.shape", f"expected a list of positive ints, -1 for a dynamic dimension; got {shape!r}"))
                shape = None
            else:
                shape = tuple(shape)
        value_range = entry.get("range")
        if value_range is not None:
            if (not isinstance(value_range, list) or len(value_range) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value_range)
                    or not value_range[0] < value_range[1]):
                problems.append(Problem(f"{at}.range", f"expected [low, high] with low < high (integers: high excluded); got {value_range!r}"))
                value_range = None
            else:
                value_range = (value_range[0], value_range[1])
        inputs.append(InputSpec(name=name, dtype=dtype if dtype in DTYPES else None, shape=shape, range=value_range,
                                io_dtype=_io_dtype(entry, at, problems)))
    return inputs


def parse_output_ref(text: str) -> tuple[str, str | int | None] | None:
    """'a' -> ('a', None); 'c.probs' -> ('c', 'probs'); 'c[1]' -> ('c', 1); None if malformed."""
    m = _REF.match(text.strip())
    if not m:
        return None
    if m["index"] is not None:
        return m["model"], int(m["index"])
    return m["model"], m["name"]


def _parse_outputs(
    raw: Any, where: str, models: Mapping[str, ModelSource], input_names: set[str], problems: list[Problem]
) -> list[OutputRef]:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(Problem(where, "expected at least one output: name = \"<model>\", \"<model>.<output>\" or \"<model>[<index>]\""))
        return []
    outputs = []
    for name, entry in raw.items():
        at = f"{where}.{name}"
        why = name_problem(name, output=True)
        if why:
            problems.append(Problem(at, why))
        inputs: tuple[str, ...] | None = None
        input_map: tuple[tuple[str, str], ...] | None = None
        io_dtype: str | None = None
        model: Any
        output: Any
        if isinstance(entry, str):
            ref = parse_output_ref(entry)
            if ref is None:
                problems.append(Problem(at, f"cannot read {entry!r}; expected \"<model>\", \"<model>.<output>\" or \"<model>[<index>]\""))
                continue
            model, output = ref
        elif isinstance(entry, Mapping):
            _unknown_keys(entry, {"model", "inputs", "output", "io_dtype"}, at, problems)
            io_dtype = _io_dtype(entry, at, problems)
            model = entry.get("model")
            output = entry.get("output")
            if not isinstance(model, str):
                problems.append(Problem(f"{at}.model", "expected the key of a [models.<key>] table"))
                continue
            if output is not None and (isinstance(output, bool) or not isinstance(output, (str, int))):
                problems.append(Problem(f"{at}.output", "expected an output name or a 0-based index"))
                output = None
            raw_inputs = entry.get("inputs")
            if raw_inputs is not None:
                if isinstance(raw_inputs, Mapping) and all(isinstance(i, str) for i in raw_inputs.values()):
                    input_map = tuple((str(k), v) for k, v in raw_inputs.items())
                    for _, i in input_map:
                        if i not in input_names:
                            problems.append(Problem(f"{at}.inputs", f"{i!r} is not an input of this signature (inputs: {', '.join(sorted(input_names))})"))
                elif not isinstance(raw_inputs, list) or not all(isinstance(i, str) for i in raw_inputs):
                    problems.append(Problem(f"{at}.inputs", "expected a list of this signature's input names (in the model's input order), "
                                                            "or a table { <model input> = \"<signature input>\" }"))
                else:
                    inputs = tuple(raw_inputs)
                    for i in inputs:
                        if i not in input_names:
                            problems.append(Problem(f"{at}.inputs", f"{i!r} is not an input of this signature (inputs: {', '.join(sorted(input_names))})"))
        else:
            problems.append(Problem(at, "expected a string reference or a table { model, inputs, output }"))
            continue
        if models and model not in models:
            problems.append(Problem(at, f"unknown model {model!r}; the spec's models are: {', '.join(models)}"))
        outputs.append(OutputRef(name=name, model=model, output=output, inputs=inputs, input_map=input_map, io_dtype=io_dtype))
    return outputs


def _io_dtype(table: Mapping[str, Any], where: str, problems: list[Problem]) -> str | None:
    value = table.get("io_dtype")
    if value is None or value in IO_DTYPES:
        return value
    problems.append(Problem(f"{where}.io_dtype", f"unknown I/O type {value!r}; expected one of {', '.join(IO_DTYPES)}"))
    return None


def _parse_options(raw: Any, base: Path, problems: list[Problem], verify: Any = None) -> ConvertOptions:
    if not isinstance(raw, Mapping):
        problems.append(Problem("convert", "expected a table"))
        return ConvertOptions()
    _unknown_keys(raw, {"optimize", "calibration", "select_tf_ops", "unsafe", "code", "target_runtime", "recipe"}, "convert", problems)
    recipe = raw.get("recipe")
    if recipe is not None and not isinstance(recipe, str):
        problems.append(Problem("convert.recipe", "expected the path of an ai-edge-quantizer recipe .json"))
        recipe = None
    code = raw.get("code", [])
    if isinstance(code, str):
        code = [code]
    if not isinstance(code, list) or not all(isinstance(c, str) and c for c in code):
        problems.append(Problem("convert.code", "expected a list of Python file paths"))
        code = []
    verify_inputs = None
    if not isinstance(verify, Mapping):
        problems.append(Problem("verify", "expected a table"))
    else:
        _unknown_keys(verify, {"inputs"}, "verify", problems)
        raw_inputs = verify.get("inputs")
        if raw_inputs is not None and not isinstance(raw_inputs, str):
            problems.append(Problem("verify.inputs", "expected the path of an .npz file"))
        elif raw_inputs:
            verify_inputs = base / raw_inputs
    optimize = raw.get("optimize", "none")
    calibration = raw.get("calibration")
    if calibration is not None and not isinstance(calibration, str):
        problems.append(Problem("convert.calibration", "expected the path of an .npz file"))
        calibration = None
    select = raw.get("select_tf_ops", False)
    unsafe = raw.get("unsafe", False)
    for key, value in (("select_tf_ops", select), ("unsafe", unsafe)):
        if not isinstance(value, bool):
            problems.append(Problem(f"convert.{key}", f"expected true or false, got {value!r}"))
    target = raw.get("target_runtime")
    if target is not None and not isinstance(target, str):
        problems.append(Problem("convert.target_runtime", f"expected a quoted release such as \"2.14\" (a bare 2.10 reads as 2.1), got {target!r}"))
        target = None
    options = ConvertOptions(
        optimize=optimize if isinstance(optimize, str) else repr(optimize),
        calibration=(base / calibration) if calibration else None,
        recipe=(base / recipe) if recipe else None,
        select_tf_ops=select is True,
        unsafe=unsafe is True,
        code=tuple(base / c for c in code),
        verify_inputs=verify_inputs,
        target_runtime=target,
    )
    problems.extend(options.problems())
    return options
