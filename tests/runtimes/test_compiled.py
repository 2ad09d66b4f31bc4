"""LiteRT 2's CompiledModel on the CPU and on the GPU accelerator (a software Vulkan device: Chromium's SwiftShader).

Real runtimes, never stubs: the GPU tests need Debian's chromium (its SwiftShader ICD) and libvulkan1, which .ci/run
installs; without them they fail naming the packages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.compiled_model import CompiledModel

import litesig
from litesig.cli.main import main
from litesig.runtimes.compiled import SWIFTSHADER_ICD, CompiledRunner

from ..conftest import keras_outputs


@pytest.fixture
def swiftshader(monkeypatch):
    if not Path(SWIFTSHADER_ICD).exists():
        pytest.fail(f"no {SWIFTSHADER_ICD}: apt-get install chromium libvulkan1 (.ci/run installs them)")
    monkeypatch.setenv("VK_ICD_FILENAMES", SWIFTSHADER_ICD)


@pytest.fixture(scope="module")
def fixed_seed(models_dir, tmp_path_factory) -> Path:
    """The seed example at batch 1: what the GPU accelerator (no dynamic shapes) can take."""
    from ..conftest import seed_spec_text

    d = tmp_path_factory.mktemp("fixed")
    for name in ("model_a.keras", "model_b.keras"):
        (d / name).symlink_to(models_dir / name)
    (d / "litesig.toml").write_text(seed_spec_text("none").replace("shape = [-1, 128, 3]", "shape = [1, 128, 3]"))
    return litesig.convert(d / "litesig.toml", d / "seed_b1.tflite").path


def test_compiled_cpu_takes_outputs_by_name_in_its_own_order(converted, models_dir, keras):
    """CompiledModel lists the seed's outputs in another order than the SignatureDef: by index they would cross."""
    path = converted["seed"]
    listed = CompiledModel.from_file(str(path)).get_signature_list()["sample_method_name"]["outputs"]
    assert listed == ["my_output_b", "my_output_a"]
    assert litesig.Runner(path).output_details("sample_method_name").keys() == {"my_output_a", "my_output_b"}
    x = np.random.default_rng(0).uniform(-1, 1, (3, 128, 3)).astype(np.float32)
    got = CompiledRunner(path).run({"x_input": x}, signature="sample_method_name")  # dynamic batch resized to 3
    want = litesig.run(path, {"x_input": x}, signature="sample_method_name")
    for name in ("my_output_a", "my_output_b"):
        assert np.array_equal(got[name], want[name]), name
    a = keras.models.load_model(models_dir / "model_a.keras")
    np.testing.assert_allclose(got["my_output_a"], keras_outputs(a, x), atol=1e-5)


def test_verify_on_compiled_runs_every_signature(converted, models_dir, capsys):
    assert main(["verify", str(converted["coder"]), "--against", str(models_dir / "coder"), "--on", "compiled", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (other,) = report["others"]
    assert other["runtime"] == "CompiledModel (CPU)" and other["passed"]
    assert {c["signature"] for c in other["cases"]} == {c["signature"] for c in report["cases"]} == {"encode", "decode"}


def test_verify_on_gpu_refuses_a_dynamic_batch_naming_the_fix(converted, models_dir, swiftshader, capsys):
    assert main(["verify", str(converted["seed"]), "--against", str(models_dir / "litesig.toml"), "--on", "gpu"]) == 1
    out = capsys.readouterr().out
    assert "cannot run on CompiledModel (GPU): the GPU accelerator takes no dynamic shape" in " ".join(out.split())
    assert "--input-shape" in out


def test_verify_on_gpu_passes_at_a_fixed_batch_fully_accelerated(fixed_seed, models_dir, swiftshader, capsys):
    spec = fixed_seed.parent / "litesig.toml"
    assert main(["verify", str(fixed_seed), "--against", str(spec), "--on", "compiled,gpu", "--json"]) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    cpu, gpu = report["others"]
    assert cpu["passed"] and gpu["passed"] and gpu["accelerated"] == "fully accelerated"
    worst = max(o["max_abs"] for c in gpu["cases"] for o in c["outputs"])
    assert worst < 1e-5
    # Independently: the GPU's outputs against the Interpreter's on fresh inputs.
    x = np.random.default_rng(7).uniform(-1, 1, (1, 128, 3)).astype(np.float32)
    runner = CompiledRunner(fixed_seed, accelerator="gpu")
    got = runner.run({"x_input": x}, signature="sample_method_name")
    assert runner.fully_accelerated
    want = litesig.run(fixed_seed, {"x_input": x})
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=1e-6)


def test_inspect_predicts_what_the_gpu_does(converted, fixed_seed, swiftshader):
    """inspect's prediction (read from the file) agrees with the real GPU accelerator on both files."""
    from litesig.runtimes.compiled import RuntimeUnavailable

    for path, runs in ((converted["seed"], False), (fixed_seed, True)):
        (fit,) = [f for f in litesig.inspect(path).app_runtimes if f.runtime == "gpu"]
        assert fit.runs is runs, fit
        try:
            CompiledRunner(path, accelerator="gpu").close()
            ran = True
        except RuntimeUnavailable:
            ran = False
        assert ran is runs
        if not runs:
            assert "dynamic shape" in fit.why[0] and "--input-shape" in fit.why[0]


def test_convert_target_gpu_fixes_the_batch_and_proves_on_the_gpu(models_dir, swiftshader, tmp_path):
    """--target gpu: dynamic dims become 1 (said in the notes), and the built-in proof runs on the GPU before writing."""
    out = tmp_path / "gpu.tflite"
    result = litesig.convert(models_dir / "litesig.toml", out, targets="gpu")
    report = result.verification
    assert report is not None and report.passed
    (gpu,) = report.others
    assert gpu.runtime == "CompiledModel (GPU)" and gpu.accelerated == "fully accelerated" and gpu.cases
    assert any("fixed from [-1, 128, 3] to [1, 128, 3]" in n for n in result.notes), result.notes
    (fit,) = [f for f in litesig.inspect(out).app_runtimes if f.runtime == "gpu"]
    assert fit.runs
    with pytest.raises(litesig.InvalidInput, match="unknown target 'tpu'"):
        litesig.convert(models_dir / "litesig.toml", tmp_path / "never.tflite", targets=["tpu"])


def _kotlin_calls(code: str) -> dict[str, dict]:
    """From generated Kotlin (--api compiled-model): per runner class, the signature and the names it passes to
    createInputBuffer / createOutputBuffer / run, in the order it passes them, resolved through its constants."""
    import re

    calls = {}
    for block in re.split(r"\nclass ", code)[1:]:
        consts = {m[1]: json.loads(m[2]) for m in re.finditer(r'const val (\w+) = ("(?:[^"\\]|\\.)*")', block)}
        calls[block.split("Runner(", 1)[0]] = {
            "signature": consts["SIGNATURE"],
            "inputs": [consts[c] for c in re.findall(r"createInputBuffer\((\w+), SIGNATURE\)", block)],
            "outputs": [consts[c] for c in re.findall(r"createOutputBuffer\((\w+), SIGNATURE\)", block)],
            "reads": [consts[c] for c in re.findall(r"outputMap\.getValue\((\w+)\)\.read", block)],
            "runs": re.findall(r"this\.model\.run\((\w+), (\w+), SIGNATURE\)", block),
        }
    return calls


@pytest.mark.parametrize("name", ["seed", "coder"])
def test_kotlin_compiled_model_calls_replayed_on_python_compiled_model(converted, name):
    """The generated Kotlin takes every buffer by name (never by index: CompiledModel lists the seed's outputs in
    another order). The same calls, with the same names, through ai-edge-litert's CompiledModel give the Interpreter's
    outputs for every signature."""
    from ai_edge_litert.tensor_buffer import TensorBuffer

    path = converted[name]
    code = litesig.generate_code(path, "kotlin", api="compiled-model")
    calls = _kotlin_calls(code)
    runner = litesig.Runner(path)
    assert sorted(c["signature"] for c in calls.values()) == sorted(runner.signatures)
    model = CompiledModel.from_file(str(path))
    rng = np.random.default_rng(11)
    for call in calls.values():
        sig = call["signature"]
        assert call["runs"] == [("inputMap", "outputMap")] and call["reads"] == call["outputs"]
        assert sorted(call["inputs"]) == sorted(runner.input_details(sig)) and sorted(call["outputs"]) == sorted(runner.output_details(sig))
        details = model.get_input_tensor_details(sig)
        arrays = {n: rng.uniform(-1, 1, [int(s) for s in details[n]["shape"]]).astype(np.float32) for n in call["inputs"]}
        ins = {n: model.create_input_buffer_by_name(sig, n) for n in call["inputs"]}
        for n, a in arrays.items():
            ins[n].write(a)
        shapes = {n: [int(s) for s in d["shape"]] for n, d in model.get_output_tensor_details(sig).items()}
        held = {n: np.zeros(shapes[n], np.float32) for n in call["outputs"]}
        outs = {n: TensorBuffer.create_from_host_memory(held[n]) for n in call["outputs"]}
        model.run_by_name(sig, ins, outs)
        want = runner.run(arrays, signature=sig)
        for n in call["reads"]:
            got = np.asarray(outs[n].read(int(np.prod(shapes[n])), np.float32)).reshape(shapes[n])
            assert np.array_equal(got, want[n]), (sig, n)


def test_verify_on_gpu_names_the_ops_that_fell_back_and_keeps_json_clean(tf, swiftshader, tmp_path):
    """GATHER_ND has no GPU kernel: with the CPU beside the GPU (as apps configure it) the file runs, the report names
    the op and the split, and LiteRT's GPU start-up line on fd 1 does not reach --json's stdout (a real subprocess)."""
    import os
    import subprocess
    import sys

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32, name="x")])
        def serve(self, x):
            return {"a": tf.math.floormod(x, 3.0), "b": tf.reverse(x, axis=[1]),
                    "c": tf.gather_nd(tf.reshape(x, [2, 4]), [[0, 1], [1, 2]])}

    m = M()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)
    path = tmp_path / "gather.tflite"
    path.write_bytes(converter.convert())
    proc = subprocess.run([sys.executable, "-m", "litesig", "verify", str(path), "--on", "gpu", "--json"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "VK_ICD_FILENAMES": SWIFTSHADER_ICD})
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    (gpu,) = json.loads(proc.stdout)["others"]  # stdout is the JSON document and nothing else
    assert gpu["passed"] and gpu["accelerated"].startswith("partly: on the CPU: GATHER_ND"), gpu["accelerated"]
    assert " of " in gpu["accelerated"] and "ops on the GPU" in gpu["accelerated"]
