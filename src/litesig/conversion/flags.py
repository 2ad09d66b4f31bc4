"""The model-path form of convert: what a spec would say for one model, given as flags.

`litesig convert model.keras -o m.tflite --signature classify --input-names image` stands for a
one-model spec; this module builds that spec, so the rest of convert sees only specs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, Problem, did_you_mean
from ..sources.models import Loader
from ..sources.spec import ConvertOptions, ModelSource, Spec, spec_from_dict


@dataclass(frozen=True)
class ModelFlags:
    """What a spec would say about one model, for the model-path form (CLI flags of the same names)."""

    signature: str | None = None  # the name of the signature to create (default serving_default, or a SavedModel's key)
    signature_keys: tuple[str, ...] | None = None  # a SavedModel's signatures to keep (default: all)
    input_names: tuple[str, ...] | None = None  # new input names, in the model's declared order
    output_names: tuple[str, ...] | None = None  # new output names, likewise
    input_shapes: Mapping[str, Sequence[int]] | None = None  # shapes by (new) input name, e.g. {"x": [1, 12, 4]}
    input_map: Mapping[str, str] | None = None  # renames by name: {model's name: new name}
    output_map: Mapping[str, str] | None = None

    def given(self) -> list[str]:
        """The fields set, as the CLI flags that set them."""
        return ["--" + f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name) is not None]


_OPTION_FIELDS = {f.name for f in fields(ConvertOptions)}
_FLAG_FIELDS = {f.name for f in fields(ModelFlags)}
_SEQUENCES = {"code", "signature_keys", "input_names", "output_names", "targets"}


def split_keywords(options: ConvertOptions, flags: ModelFlags, keywords: Mapping[str, Any]) -> tuple[ConvertOptions, ModelFlags]:
    """Apply convert()'s keyword arguments (the thin layer that mirrors the CLI flags) over `options` and `flags`.

    None means "not given". A single name may be a str. A path-like option becomes a Path.
    """
    unknown = [k for k in keywords if k not in _OPTION_FIELDS | _FLAG_FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(_OPTION_FIELDS | _FLAG_FIELDS), n=1)
        raise TypeError(f"convert() got an unexpected keyword argument {unknown[0]!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    given = {k: _normalised(k, v) for k, v in keywords.items() if v is not None}
    return (replace(options, **{k: v for k, v in given.items() if k in _OPTION_FIELDS}),
            replace(flags, **{k: v for k, v in given.items() if k in _FLAG_FIELDS}))


def _normalised(key: str, value: Any) -> Any:
    if key in _SEQUENCES:
        values = (value,) if isinstance(value, (str, Path)) else tuple(value)
        return tuple(Path(v) for v in values) if key == "code" else values
    if key in ("calibration", "verify_inputs", "recipe"):
        return Path(value)
    return value


def spec_from_flags(path: Path, loader: Loader, flags: ModelFlags, options: ConvertOptions) -> Spec:
    """The spec the single-model flag forms stand for; every rename becomes a by-name mapping."""
    signature, signature_keys = flags.signature, flags.signature_keys
    input_names, output_names = flags.input_names, flags.output_names
    input_shapes, input_map, output_map = flags.input_shapes or {}, dict(flags.input_map or {}), dict(flags.output_map or {})
    # The path itself was checked by convert() before TensorFlow loaded (source_problem), and the loader checks it again.
    problems: list[Problem] = []
    if path.is_dir():
        available = loader.saved_model_signatures(path)
        keys = list(signature_keys) if signature_keys else available
        for key in keys:
            if key not in available:
                problems.append(Problem("--signature-keys", f"no signature {key!r}; the SavedModel has: {', '.join(available)}"))
        if problems:
            raise InvalidInput(str(path), problems)
        models = {key: ModelSource(key, path, key) for key in keys}
    else:
        keys = ["model"]
        models = {"model": ModelSource("model", path)}
    if len(keys) != 1 and (signature or input_names or output_names or input_map or output_map):
        raise InvalidInput(str(path), [Problem("--signature", f"the SavedModel has {len(keys)} signatures ({', '.join(keys)}); "
                                                "pick one with --signature-keys to rename it, or write a spec")])
    signatures: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for key in keys:
        src = loader.load(key, models[key].path, models[key].signature)
        ins = list(src.input_names())
        outs = list(src.output_names)
        if not src.declared:
            ins, outs = ["inputs"], []
        new_ins = _renamed(ins, input_names, input_map, "--input-names", "--input-map", "inputs", src.input_order, problems, notes)
        if src.declared:
            new_outs = _renamed(outs, output_names, output_map, "--output-names", "--output-map", "outputs", src.output_order,
                                problems, notes)
        else:  # a subclassed model: its outputs are known once its input shape is
            shape = input_shapes.get(input_names[0] if input_names else input_map.get("inputs", "inputs"))
            if shape is None:
                problems.append(Problem("--input-shape", f"{path} declares no inputs (a subclassed model): give its shape, "
                                                         "e.g. --input-shape inputs=-1,4"))
            else:
                outs = list(src.with_input_shapes({"inputs": shape}).output_names)
                new_outs = _renamed(outs, output_names, output_map, "--output-names", "--output-map", "outputs", src.output_order,
                                    problems, notes)
        for shaped in input_shapes:
            if shaped not in new_ins:
                problems.append(Problem("--input-shape", f"no input {shaped!r}; the inputs are: {', '.join(new_ins)}"))
        if problems:
            raise InvalidInput(str(path), problems)
        feeds = dict(zip(ins, new_ins))
        signatures[signature or (key if path.is_dir() else "serving_default")] = {
            "inputs": {new: ({"shape": list(input_shapes[new])} if new in input_shapes else {}) for new in new_ins},
            "outputs": {new: {"model": key, "output": old, "inputs": feeds} for old, new in zip(outs, new_outs)},
        }
    data = {
        "models": {key: {"path": str(m.path), **({"signature": m.signature} if m.signature else {})} for key, m in models.items()},
        "signatures": signatures,
    }
    spec = spec_from_dict(data, source=str(path))
    return replace(spec, options=options, notes=tuple(notes))


def _renamed(names: list[str], positional: Sequence[str] | None, by_name: Mapping[str, str], flag: str, map_flag: str,
             what: str, order: str | None, problems: list[Problem], notes: list[str]) -> list[str]:
    """New names for `names`: positional (in the model's declared order) or by name; unnamed ones keep theirs.

    Positional names over several tensors whose order the source does not declare are refused:
    a guessed order gives a file with the right names on the wrong tensors, which no check can see.
    """
    if positional and by_name:
        problems.append(Problem(flag, f"give {flag} or {map_flag}, not both"))
        return names
    if positional:
        if len(names) > 1 and order is None:
            example = ",".join(f"{n}=NEW{i + 1}" for i, n in enumerate(names[:3]))
            problems.append(Problem(flag, f"the source does not declare the order of its {len(names)} {what} "
                                          f"({', '.join(names)}), so positional names could land on the wrong ones; "
                                          f"name each by its name instead: {map_flag} {example}"))
            return names
        if len(positional) != len(names):
            problems.append(Problem(flag, f"{len(positional)} names for {len(names)} {what} ({', '.join(names)}, {order})"))
            return names
        if len(names) > 1:
            notes.append(f"{flag} follow the order of the model's {what} ({order}): "
                         + ", ".join(f"{old} -> {new}" for old, new in zip(names, positional)))
        return list(positional)
    for old in by_name:
        if old not in names:
            problems.append(Problem(map_flag, f"no {what[:-1]} {old!r}; the model's {what} are: {', '.join(names)}"
                                              f"{did_you_mean(old, names)}"))
    return [by_name.get(n, n) for n in names]
