"""codegen: the generated code runs (Python) or compiles (Java, Kotlin, C++) against the model's real names."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import litesig
from litesig.cli.main import main
from litesig.codegen import generate_code
from litesig.errors import LitesigError, SignatureNotFound

STUBS = Path(__file__).parent / "stubs"
MODELS = ["seed", "coder", "multi", "embed", "int8_io", "fixed"]


@pytest.fixture(scope="module")
def models(converted, models_dir, tmp_path_factory, tf, keras):
    out = dict(converted)
    d = tmp_path_factory.mktemp("codegen_models")
    out["embed"] = litesig.convert(models_dir / "embed.keras", d / "embed.tflite", signature="score").path
    # int8 inputs and outputs, as a fully quantized model for a microcontroller-style app has.
    model = keras.models.load_model(models_dir / "listed.keras")
    conv = tf.lite.TFLiteConverter.from_keras_model(keras.Model(model.inputs, model.outputs[0]))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.default_rng(i).uniform(-1, 1, (1, 5)).astype(np.float32)] for i in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (d / "int8_io.tflite").write_bytes(conv.convert())
    out["int8_io"] = d / "int8_io.tflite"
    # Fixed shapes: Kotlin gets the ByteBuffer form too.
    out["fixed"] = litesig.convert(models_dir / "listed.keras", d / "fixed.tflite", signature="embed",
                                   input_shapes={"features": [1, 5]}).path
    return out


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", MODELS)
def test_python_code_runs_and_matches_litesig_run(models, name, tmp_path):
    path = models[name]
    code = tmp_path / f"gen_{name}.py"
    assert main(["codegen", str(path), "--lang", "python", "-o", str(code), "-q"]) == 0
    generated = _import(code, f"gen_{name}")
    cls = next(v for k, v in vars(generated).items() if isinstance(v, type) and v.__module__ == f"gen_{name}")
    instance = cls(str(path))
    beside = path.parent / f"gen_{name}_beside.py"  # generated next to the model: the constructor finds it by default
    beside.write_text(code.read_text())
    by_default = getattr(_import(beside, f"gen_{name}_beside"), cls.__name__)()  # raises unless MODEL_FILE is beside it
    info = litesig.inspect(path)
    rng = np.random.default_rng(0)
    for sig in info.signatures.values():
        from litesig.runtimes.inputs import sample_inputs

        feed = sample_inputs(litesig.Runner(path).input_details(sig.name), batch=2, dynamic=3, rng=rng)
        method = getattr(instance, sig.name.lower())
        got = method(*[feed[n] for n in sig.inputs])
        again = getattr(by_default, sig.name.lower())(*[feed[n] for n in sig.inputs])
        assert all(np.array_equal(again[k], got[k]) for k in got)
        want = litesig.run(path, feed, signature=sig.name)
        assert got.keys() == want.keys()
        for k in want:
            assert np.array_equal(got[k], want[k])


def test_python_quantize_helpers(models, tmp_path):
    code = tmp_path / "q.py"
    code.write_text(generate_code(models["int8_io"], "python", class_name="Q"))
    q = _import(code, "q").Q
    info = litesig.inspect(models["int8_io"])
    (inp,) = info.signatures["serving_default"].inputs.values()
    (out,) = info.signatures["serving_default"].outputs.values()
    x = np.array([[0.5, -0.25, 0.0, 0.3, -0.6]], np.float32)  # inside the calibrated range: no saturation
    qx = getattr(q, f"quantize_{inp.name.lower()}")(x)
    assert qx.dtype == np.int8
    np.testing.assert_allclose(inp.quantization.scale * (qx.astype(np.float32) - inp.quantization.zero_point), x,
                               atol=inp.quantization.scale)
    deq = getattr(q, f"dequantize_{out.name.lower()}")(np.array([[out.quantization.zero_point, 10]], np.int8))
    assert deq[0, 0] == 0.0 and deq.dtype == np.float32


@pytest.mark.parametrize("name", MODELS)
def test_java_compiles(models, name, tmp_path):
    subprocess.run(["javac", "-d", str(tmp_path / "stubs"), str(STUBS / "java/org/tensorflow/lite/Interpreter.java")], check=True)
    src = tmp_path / "Generated.java"
    assert main(["codegen", str(models[name]), "--lang", "java", "-o", str(src), "-q", "--package", f"com.example.{name}"]) == 0
    proc = subprocess.run(["javac", "-Xlint:all", "-Werror", "-cp", str(tmp_path / "stubs"), "-d", str(tmp_path / "out"), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + src.read_text()
    assert (tmp_path / "out" / "com" / "example" / name / "Generated.class").exists()  # the package the app imports


def test_kotlin_compiles(models, tmp_path):
    subprocess.run(["javac", "-d", str(tmp_path / "stubs"), str(STUBS / "java/org/tensorflow/lite/Interpreter.java")], check=True)
    sources = []
    for name in MODELS:  # one kotlinc run for all: it takes seconds to start
        src = tmp_path / name / f"{name.title().replace('_', '')}Runners.kt"
        src.parent.mkdir()
        src.write_text(generate_code(models[name], "kotlin", package=f"gen.{name}"))
        sources.append(str(src))
    proc = subprocess.run(["kotlinc", "-Werror", "-cp", str(tmp_path / "stubs"), "-d", str(tmp_path / "out"), *sources],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    fixed = (tmp_path / "fixed" / "FixedRunners.kt").read_text()
    assert "fun runBuffers(features: ByteBuffer): Outputs" in fixed and "checkBuffer(features, 20, EMBED_FEATURES)" in fixed
    assert "val interpreter = Interpreter(buffer)" in fixed  # the usage comment
    assert "runBuffers" not in (tmp_path / "seed" / "SeedRunners.kt").read_text()  # a dynamic batch: arrays only


def test_package_must_be_a_package_name(models, capsys):
    model = str(models[MODELS[0]])
    assert main(["codegen", model, "--lang", "java", "--package", "com.class.ml"]) == 2
    assert "'class' is not a java identifier" in capsys.readouterr().err
    assert main(["codegen", model, "--lang", "python", "--package", "a.b"]) == 2
    assert "only Kotlin and Java" in capsys.readouterr().err


def kotlin_stdlib() -> Path:
    for candidate in (Path(shutil.which("kotlinc") or "/").resolve().parent.parent / "lib" / "kotlin-stdlib.jar",
                      Path("/usr/share/java/kotlin-stdlib.jar")):
        if candidate.exists():
            return candidate
    raise AssertionError("kotlinc is installed but its kotlin-stdlib.jar was not found")


def test_compiled_model_api_compiles(models, tmp_path):
    """--api compiled-model: Kotlin (one kotlinc run, with the LiteRT declarations in tests/codegen/stubs/kotlin) and Java (one
    javac run against the classes kotlinc made, as an app's Java sees the Kotlin library) for every model."""
    sources = [str(p) for p in sorted((STUBS / "kotlin").rglob("*.kt"))]
    for name in MODELS:
        src = tmp_path / "kt" / name / "Runners.kt"
        src.parent.mkdir(parents=True)
        assert main(["codegen", str(models[name]), "--lang", "kotlin", "--api", "compiled-model", "-o", str(src), "-q"]) == 0
        src.write_text(f"package gen.{name}\n\n" + src.read_text())
        sources.append(str(src))
    out = tmp_path / "kt_out"
    proc = subprocess.run(["kotlinc", "-Werror", "-d", str(out), *sources], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    java = []
    for name in MODELS:
        src = tmp_path / "java" / f"{name.title().replace('_', '')}Model.java"
        src.parent.mkdir(exist_ok=True)
        assert main(["codegen", str(models[name]), "--lang", "java", "--api", "compiled-model", "-o", str(src), "-q"]) == 0
        java.append(str(src))
    proc = subprocess.run(["javac", "-Xlint:all", "-Werror", "-cp", f"{out}:{kotlin_stdlib()}", "-d", str(tmp_path / "java_out"), *java],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    kotlin = generate_code(models["coder"], "kotlin", api="compiled-model")
    assert 'this.model.createInputBuffer(ENCODE_X, SIGNATURE)' in kotlin and "writeFloat(x)" in kotlin
    assert "this.model.run(inputMap, outputMap, SIGNATURE)" in kotlin and "readFloat()" in kotlin
    assert "x.size != 4" in kotlin  # the stored shape [1, 4] of the [-1, 4] input
    int8 = generate_code(models["int8_io"], "java", api="compiled-model")
    assert "writeInt8(" in int8 and "readInt8()" in int8 and "halves away from zero" in int8


def test_compiled_model_refusals(models, tmp_path, capsys):
    with pytest.raises(LitesigError, match="--api compiled-model is for --lang kotlin or java"):
        generate_code(models["seed"], "cpp", api="compiled-model")
    assert main(["codegen", str(models["seed"]), "--lang", "python", "--api", "compiled-model"]) == 2
    assert "--api compiled-model is for --lang kotlin or java" in capsys.readouterr().err
    with pytest.raises(LitesigError, match="unknown API"):
        generate_code(models["seed"], "java", api="compiledmodel")


@pytest.mark.parametrize("name", MODELS)
def test_cpp_compiles(models, name, tmp_path):
    header = tmp_path / "runner.h"
    assert main(["codegen", str(models[name]), "--lang", "cpp", "-o", str(header), "--class-name", "gen", "-q"]) == 0
    (tmp_path / "main.cc").write_text('#include "runner.h"\nint main() { auto m = gen::Load("m.tflite"); return m.interpreter ? 0 : 1; }\n')
    proc = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{STUBS / 'cpp'}", f"-I{tmp_path}",
                           str(tmp_path / "main.cc")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_generated_code_uses_the_real_names(models):
    kotlin = generate_code(models["coder"], "kotlin", signature="encode")
    assert 'const val SIGNATURE = "encode"' in kotlin and 'const val ENCODE_X = "x"' in kotlin
    assert "ENCODE_X to x" in kotlin and "ENCODE_CODE to outputs.code" in kotlin
    assert "DecodeRunner" not in kotlin
    cpp = generate_code(models["seed"], "cpp")
    assert 'kSAMPLE_METHOD_NAME_X_INPUTName = "x_input"' in cpp
    assert "ResizeInputTensor(kSAMPLE_METHOD_NAME_X_INPUTName, std::vector<int>{batch, 128, 3})" in cpp
    java = generate_code(models["int8_io"], "java")
    assert "halves away from zero" in java and "byte[][]" in java


def test_unsupported_requests(models, capsys):
    with pytest.raises(LitesigError, match="Swift is not supported"):
        generate_code(models["seed"], "swift")
    with pytest.raises(SignatureNotFound, match="did you mean 'encode'"):
        generate_code(models["coder"], "python", signature="encod")
    assert main(["codegen", str(models["seed"]), "--lang", "swift"]) == 2
    assert "Swift is not supported" in capsys.readouterr().err


def test_stdout_by_default(models, capsys):
    assert main(["codegen", str(models["seed"]), "--lang", "python"]) == 0
    assert "def sample_method_name(self, x_input: np.ndarray)" in capsys.readouterr().out
