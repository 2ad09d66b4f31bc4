"""The seed example: two small Keras models behind one signature `sample_method_name`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import check_writable, temp_dir_prefix, unwritable, write_atomic

SPEC = """\
# The seed example: two models, one signature, the names an Android app calls.
[models.a]
path = "model_a.keras"

[models.b]
path = "model_b.keras"

[signatures.sample_method_name.inputs]
x_input = { dtype = "float32", shape = [-1, 128, 3] }

[signatures.sample_method_name.outputs]
my_output_a = "a"
my_output_b = "b"

[convert]
optimize = "float16"
"""


@dataclass(frozen=True)
class DemoOutcome:
    directory: Path
    files: list[str]
    result: Any  # ConvertResult
    signature_list: dict[str, dict[str, list[str]]]  # as LiteRT's get_signature_list() shows it
    details: dict[str, dict[str, dict[str, dict[str, Any]]]]  # signature -> inputs/outputs -> name -> detail

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "files": self.files, "signature_list": self.signature_list,
                "details": self.details, **self.result.to_dict()}


def build_models(directory: Path, *, seed: int = 0, force: bool = False) -> Path:
    """Write model_a.keras, model_b.keras and litesig.toml into `directory`; return the spec path.

    Each file is written whole or not at all (built in a temporary folder, then moved in without
    replacing a file unless `force`); a folder that cannot be written is a message.
    """
    import tempfile

    from .._tf import import_keras

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(directory, e) from None
    keras = import_keras("litesig demo")
    keras.utils.set_random_seed(seed)
    a = keras.Sequential([keras.Input((128, 3), name="x"), keras.layers.Conv1D(8, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)], name="model_a")
    b = keras.Sequential([keras.Input((128, 3), name="x"), keras.layers.Flatten(),
                          keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")], name="model_b")
    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix()) as tmp:
        for model in (a, b):
            built = Path(tmp) / f"{model.name}.keras"
            model.save(built)
            write_atomic(directory / built.name, built.read_bytes(), replace=force)
    spec = directory / "litesig.toml"
    write_atomic(spec, SPEC.encode("utf-8"), replace=force)
    return spec


def run_demo(directory: Path, *, force: bool = False, progress: Callable[[str], None] | None = None) -> DemoOutcome:
    """Build the seed example, convert it with float16, and read back what an app would see."""
    from ..conversion.pipeline import convert
    from ..runtimes.interpreter import Runner

    files = ["model_a.keras", "model_b.keras", "litesig.toml", "model.tflite"]
    for name in files:
        check_writable(directory / name, force=force)
    say = progress or (lambda _s: None)
    say("Building the seed example's Keras models")
    spec = build_models(directory, force=force)
    result = convert(spec, directory / "model.tflite", force=force, progress=progress)
    runner = Runner(result.path)
    signature_list = {}
    details: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for sig in runner.signatures:
        raw = runner.runner(sig)
        ins, outs = raw.get_input_details(), raw.get_output_details()
        signature_list[sig] = {"inputs": list(ins), "outputs": list(outs)}
        details[sig] = {kind: {name: {"dtype": str(d["dtype"].__name__), "shape": d["shape"].tolist(),
                                      "shape_signature": d["shape_signature"].tolist(), "tensor": d["name"]}
                               for name, d in group.items()}
                        for kind, group in (("inputs", ins), ("outputs", outs))}
    return DemoOutcome(directory, files, result, signature_list, details)
