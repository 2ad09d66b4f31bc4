"""Real conversions with the real converter, run on the real LiteRT runtime.

Parity here is measured independently of litesig's own verifier: the test loads the Keras
models itself and runs the .tflite through ai_edge_litert's Interpreter directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.errors import ConversionFailed, InvalidInput, LitesigError, OutputExists, VerificationFailed
from litesig.verification.parity import Tolerance

# Per mode: (max abs error scaled to the output magnitude, min cosine). float32 is the brief's 1e-5.
TOLERANCES = {"none": (1e-5, 0.99999), "float16": (2e-2, 0.999), "dynamic-int8": (None, 0.99), "int8": (None, 0.95)}


def run_tflite(path, signature, **inputs):
    it = Interpreter(model_path=str(path))
    return it, it.get_signature_runner(signature)(**inputs)


def assert_close(got, want, mode):
    atol, min_cos = TOLERANCES[mode]
    assert np.all(np.isfinite(got))
    scale = max(1.0, float(np.abs(want).max()))
    if atol is not None:
        assert np.abs(got - want).max() <= atol * scale
    cos = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want) + 1e-12))
    assert cos >= min_cos


@pytest.mark.parametrize("mode", ["none", "float16", "dynamic-int8", "int8"])
def test_seed_example_names_dynamic_batch_and_parity_in_every_mode(mode, seed_spec, tmp_path, keras):
    extra = ""
    if mode == "int8":
        np.savez(tmp_path / "calib.npz", x_input=np.random.default_rng(1).uniform(-1, 1, (16, 128, 3)).astype(np.float32))
        extra = 'calibration = "calib.npz"'
    out = tmp_path / "m.tflite"
    result = litesig.convert(seed_spec(mode, extra), out)

    assert result.path == out and out.stat().st_size == result.size_bytes
    assert result.verification is not None and result.verification.passed
    x = np.random.default_rng(2).uniform(-1, 1, (3, 128, 3)).astype(np.float32)
    it, got = run_tflite(out, "sample_method_name", x_input=x)
    assert it.get_signature_list() == {"sample_method_name": {"inputs": ["x_input"], "outputs": ["my_output_a", "my_output_b"]}}
    details = it.get_signature_runner("sample_method_name").get_input_details()["x_input"]
    assert details["shape_signature"].tolist() == [-1, 128, 3]
    a = keras.models.load_model(out.parent / "model_a.keras")
    b = keras.models.load_model(out.parent / "model_b.keras")
    assert_close(got["my_output_a"], a(x).numpy(), mode)
    assert_close(got["my_output_b"], b(x).numpy(), mode)


def test_sizes_float16_and_dynamic_int8_against_float32(models_dir, tmp_path):
    results = {mode: litesig.convert(models_dir / "big.keras", tmp_path / f"{mode}.tflite", optimize=mode)
               for mode in ("none", "float16", "dynamic-int8")}
    for mode, result in results.items():
        assert litesig.inspect(result.path).precision == mode and result.notes == []
    sizes = {mode: r.size_bytes for mode, r in results.items()}
    assert sizes["float16"] <= 0.52 * sizes["none"]
    assert sizes["dynamic-int8"] <= 0.30 * sizes["none"]


def test_signatures_share_weights(models_dir, tmp_path):
    one = {"models": {"m": {"path": str(models_dir / "big.keras")}},
           "signatures": {"classify": {"inputs": {"x": {}}, "outputs": {"logits": "m"}}}}
    two = {**one, "signatures": {**one["signatures"], "score": {"inputs": {"features": {}}, "outputs": {"scores": "m"}}}}
    single = litesig.convert(litesig.spec_from_dict(one), tmp_path / "one.tflite")
    double = litesig.convert(litesig.spec_from_dict(two), tmp_path / "two.tflite")
    assert double.size_bytes < 1.1 * single.size_bytes  # a second copy of the weights would double it
    it = Interpreter(model_path=str(double.path))
    assert it.get_signature_list() == {"classify": {"inputs": ["x"], "outputs": ["logits"]},
                                       "score": {"inputs": ["features"], "outputs": ["scores"]}}


def test_multi_input_dict_outputs_by_name_index_and_long_form(models_dir, tmp_path, keras):
    spec = litesig.spec_from_dict({
        "models": {"m": {"path": str(models_dir / "multi.keras")}},
        "signatures": {
            "by_name": {"inputs": {"mask": {}, "image": {}}, "outputs": {"p": "m.probs", "b": "m[1]"}},
            "by_order": {"inputs": {"pixels": {}, "valid": {}}, "outputs": {"p": "m.probs"}},
            "explicit": {"inputs": {"u": {"shape": [-1, 2]}, "v": {"shape": [-1, 6]}},
                         "outputs": {"box": {"model": "m", "inputs": ["v", "u"], "output": "box"}}},
        },
    })
    out = litesig.convert(spec, tmp_path / "multi.tflite").path
    model = keras.models.load_model(models_dir / "multi.keras")
    rng = np.random.default_rng(3)
    img, mask = rng.normal(size=(2, 6)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)
    want = model([img, mask])
    _, got = run_tflite(out, "by_name", image=img, mask=mask)
    assert_close(got["p"], want["probs"].numpy(), "none")
    assert_close(got["b"], want["box"].numpy(), "none")
    _, got = run_tflite(out, "by_order", pixels=img, valid=mask)
    assert_close(got["p"], want["probs"].numpy(), "none")
    _, got = run_tflite(out, "explicit", u=mask, v=img)
    assert_close(got["box"], want["box"].numpy(), "none")


@pytest.mark.parametrize("filename", ["listed.keras", "listed.h5"])
def test_flag_form_names_a_keras_model(models_dir, tmp_path, filename, keras):
    out = litesig.convert(models_dir / filename, tmp_path / "m.tflite", signature="classify",
                          input_names=["feats"], output_names=["p", "q"]).path
    it = Interpreter(model_path=str(out))
    assert it.get_signature_list() == {"classify": {"inputs": ["feats"], "outputs": ["p", "q"]}}
    x = np.ones((2, 5), np.float32)
    _, got = run_tflite(out, "classify", feats=x)
    first, second = keras.models.load_model(models_dir / filename, compile=False)(x)
    assert_close(got["p"], first.numpy(), "none")
    assert_close(got["q"], second.numpy(), "none")


def test_flag_form_keeps_model_names_by_default(models_dir, tmp_path):
    result = litesig.convert(models_dir / "listed.keras", tmp_path / "m.tflite")
    assert result.signatures == {"serving_default": {"inputs": ["features"], "outputs": ["first", "second"]}}


def test_saved_model_keeps_every_signature_and_its_names(models_dir, tmp_path, tf):
    out = litesig.convert(models_dir / "coder", tmp_path / "coder.tflite").path
    it = Interpreter(model_path=str(out))
    assert it.get_signature_list() == {"decode": {"inputs": ["code"], "outputs": ["reconstruction"]},
                                       "encode": {"inputs": ["x"], "outputs": ["code"]}}
    loaded = tf.saved_model.load(str(models_dir / "coder"))
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    _, got = run_tflite(out, "encode", x=x)
    assert_close(got["code"], loaded.signatures["encode"](x=tf.constant(x))["code"].numpy(), "none")


def test_saved_model_signature_keys_and_rename(models_dir, tmp_path):
    out = litesig.convert(models_dir / "coder", tmp_path / "enc.tflite", signature_keys=["encode"], signature="embed",
                          output_names=["embedding"]).path
    assert Interpreter(model_path=str(out)).get_signature_list() == {"embed": {"inputs": ["x"], "outputs": ["embedding"]}}


def test_keras2_saved_model(tmp_path, tf):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.InputLayer((7,), name="legacy_in"), tf_keras.layers.Dense(3, activation="tanh")])
    tf.saved_model.save(model, str(tmp_path / "legacy"))
    out = litesig.convert(tmp_path / "legacy", tmp_path / "legacy.tflite", signature="predict", output_names=["y"]).path
    x = np.random.default_rng(5).normal(size=(4, 7)).astype(np.float32)
    _, got = run_tflite(out, "predict", **{Interpreter(model_path=str(out)).get_signature_list()["predict"]["inputs"][0]: x})
    assert_close(got["y"], model(x).numpy(), "none")


def test_int32_embedding_input_beside_float(models_dir, tmp_path):
    result = litesig.convert(models_dir / "embed.keras", tmp_path / "e.tflite", signature="score")
    assert result.verification.passed
    inputs = Interpreter(model_path=str(result.path)).get_signature_runner("score").get_input_details()
    assert inputs["tokens"]["dtype"] == np.int32 and inputs["numeric"]["dtype"] == np.float32


def test_spec_can_fix_a_dynamic_dimension(seed_spec, tmp_path):
    spec = seed_spec("none")
    spec.write_text(spec.read_text().replace("[-1, 128, 3]", "[2, 128, 3]"))
    out = litesig.convert(spec, tmp_path / "fixed.tflite").path
    d = Interpreter(model_path=str(out)).get_signature_runner("sample_method_name").get_input_details()["x_input"]
    assert d["shape_signature"].tolist() == [2, 128, 3]


def test_spec_with_several_mistakes_lists_them_all_and_writes_nothing(models_dir, tmp_path):
    (tmp_path / "s.toml").write_text(f"""
[models.a]
path = "{models_dir / 'multi.keras'}"
[signatures.sig.inputs]
image = {{}}
mask = {{}}
[signatures.sig.outputs]
p = "a.nope"
q = "a[9]"
""")
    with pytest.raises(InvalidInput) as e:
        litesig.convert(tmp_path / "s.toml", tmp_path / "out.tflite")
    text = str(e.value)
    assert "signatures.sig.outputs.p: model 'a' has no output 'nope'; its outputs are: probs, box" in text
    assert "signatures.sig.outputs.q: model 'a' has 2 outputs (probs, box); index 9 is out of range" in text
    assert not (tmp_path / "out.tflite").exists()


def test_input_shape_that_does_not_fit_the_model(seed_spec, tmp_path):
    spec = seed_spec("none")
    spec.write_text(spec.read_text().replace("[-1, 128, 3]", "[-1, 64, 3]"))
    with pytest.raises(InvalidInput, match=r"inputs.x_input.shape: \[-1, 64, 3\] does not fit input 'x' of model 'a', which takes \[-1, 128, 3\]"):
        litesig.convert(spec, tmp_path / "m.tflite")


def test_int8_calibration_with_wrong_shape(seed_spec, tmp_path):
    np.savez(tmp_path / "calib.npz", x_input=np.zeros((4, 64, 3), np.float32))
    with pytest.raises(InvalidInput, match=r"x_input: array of shape \[4, 64, 3\] gives samples of shape \[1, 64, 3\]; the input takes \[-1, 128, 3\]"):
        litesig.convert(seed_spec("int8", 'calibration = "calib.npz"'), tmp_path / "m.tflite")


def test_int8_calibration_missing_input(seed_spec, tmp_path):
    np.savez(tmp_path / "calib.npz", other=np.zeros((4, 128, 3), np.float32))
    with pytest.raises(InvalidInput, match=r"sample_method_name/x_input: no array for this input .* the file has: other"):
        litesig.convert(seed_spec("int8", 'calibration = "calib.npz"'), tmp_path / "m.tflite")


def test_existing_output_needs_force(seed_spec, tmp_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExists):
        litesig.convert(seed_spec(), out)
    assert out.read_bytes() == b"keep me"
    litesig.convert(seed_spec(), out, force=True)
    assert out.read_bytes()[4:8] == b"TFL3"


def test_output_file_gets_the_usual_permissions(seed_spec, tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        out = litesig.convert(seed_spec(), tmp_path / "m.tflite").path
    finally:
        os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o644


def test_failed_verification_writes_nothing(seed_spec, tmp_path):
    impossible = Tolerance(atol=0.0, rtol=0.0, min_cosine=1.5)
    with pytest.raises(VerificationFailed, match="was not written"):
        litesig.convert(seed_spec(), tmp_path / "m.tflite", tolerance=impossible)
    assert list(tmp_path.glob("*.tflite")) == [] and list(tmp_path.glob(".*tmp")) == []


def test_converter_refusal_names_select_tf_ops(models_dir, tmp_path):
    with pytest.raises(ConversionFailed) as e:
        litesig.convert(models_dir / "stringer", tmp_path / "s.tflite")
    assert "--select-tf-ops" in str(e.value) and "AsString" in str(e.value)
    assert not (tmp_path / "s.tflite").exists()


def test_lambda_model_needs_unsafe(models_dir, tmp_path):
    with pytest.raises(LitesigError, match="--unsafe"):
        litesig.convert(models_dir / "lambda.keras", tmp_path / "l.tflite")
    result = litesig.convert(models_dir / "lambda.keras", tmp_path / "l.tflite", unsafe=True)
    assert result.verification.passed


def test_progress_reports_the_slow_steps(seed_spec, tmp_path):
    steps = []
    litesig.convert(seed_spec(), tmp_path / "m.tflite", progress=steps.append)
    assert steps[:3] == ["Loading TensorFlow", "Loading models", "Tracing signatures"]
    assert any(s.startswith("Converting") for s in steps) and steps[-1].startswith("Verifying")


def test_a_model_that_fails_on_the_routed_inputs_is_a_clear_error(tmp_path, tf):
    class Picky(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def run(self, x):
            return {"y": x * 2.0}

    p = Picky()
    tf.saved_model.save(p, str(tmp_path / "picky"), signatures={"run": p.run})
    spec = litesig.spec_from_dict({"models": {"m": {"path": str(tmp_path / "picky")}},
                                   "signatures": {"s": {"inputs": {"x": {"dtype": "float32", "shape": [-1, 5]}}, "outputs": {"y": "m.y"}}}})
    with pytest.raises(InvalidInput, match=r"\[-1, 5\] does not fit input 'x' of model 'm', which takes \[-1, 4\]"):
        litesig.convert(spec, tmp_path / "p.tflite")
    spec = litesig.spec_from_dict({"models": {"m": {"path": str(tmp_path / "picky")}},
                                   "signatures": {"s": {"inputs": {"x": {"dtype": "float32"}}, "outputs": {"y": "m.y"}}}})
    assert litesig.convert(spec, tmp_path / "p.tflite").verification.passed


def test_a_model_whose_code_fails_at_trace_time(tmp_path, keras, tf):
    x = keras.Input((None,), name="x")
    # Fails on one (static) width, as a shape-sensitive layer would.
    picky = keras.layers.Lambda(lambda t: t[:, :1] if t.shape[1] != 4 else t.refuses_width_4, output_shape=(1,))
    keras.Model(x, picky(x)).save(tmp_path / "picky.keras")
    with pytest.raises(ConversionFailed, match=r"signature 'serving_default': tracing the models with inputs x float32 \[-1, 4\] failed: "):
        litesig.convert(tmp_path / "picky.keras", tmp_path / "s.tflite", unsafe=True, input_shapes={"x": [-1, 4]})
    assert litesig.convert(tmp_path / "picky.keras", tmp_path / "s.tflite", unsafe=True, input_shapes={"x": [-1, 6]}).verification.passed


def test_names_come_from_the_declared_structure_and_a_failing_reference_is_one_clean_line(tmp_path, keras):
    # Fails when *called* on any concrete width but 6: litesig never calls it to learn names (it used to, on zeros).
    x = keras.Input((None,), name="x")
    picky = keras.layers.Lambda(lambda t: t[:, :1] if t.shape[1] in (None, 6) else t.wants_width_6, output_shape=(1,))
    keras.Model(x, picky(x)).save(tmp_path / "six.keras")
    with pytest.raises(VerificationFailed, match=r"reference failed: AttributeError: .*wants_width_6") as caught:
        litesig.convert(tmp_path / "six.keras", tmp_path / "s.tflite", unsafe=True)
    assert "\x1b" not in str(caught.value) and "Arguments received" not in str(caught.value)
    assert not (tmp_path / "s.tflite").exists()
    assert litesig.convert(tmp_path / "six.keras", tmp_path / "s.tflite", unsafe=True, input_shapes={"x": [-1, 6]}).verification.passed


def test_without_tensorflow_convert_names_the_extra(tmp_path):
    import subprocess
    import sys

    (tmp_path / "m.keras").write_bytes(b"a model")  # a path that exists: a missing one is refused before TensorFlow is needed
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from litesig.cli.main import main\n"
            f"sys.exit(main(['convert', {str(tmp_path / 'm.keras')!r}, '-o', {str(tmp_path / 'o.tflite')!r}, '-q']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "needs tensorflow, which is not installed. Install it with: pip install 'litesig[convert]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_callers_see_argument_names_the_cli_sees_flags(models_dir, tmp_path, capsys):
    """From Python a problem names the argument (input_names), from the CLI the flag (--input-names)."""
    from litesig.cli.main import main

    with pytest.raises(litesig.InvalidInput) as raised:
        litesig.convert(models_dir / "listed.keras", tmp_path / "x.tflite", input_names=["a", "b"], optimize="fp16")
    assert {p.where for p in raised.value.problems} >= {"optimize"} or {p.where for p in raised.value.problems} >= {"input_names"}
    assert not any(p.where.startswith(("--", "options.")) for p in raised.value.problems)
    with pytest.raises(litesig.InvalidInput) as raised:
        litesig.convert(models_dir / "listed.keras", tmp_path / "x.tflite", input_names=["a", "b"])
    assert [p.where for p in raised.value.problems] == ["input_names"]
    assert main(["convert", str(models_dir / "listed.keras"), "-o", str(tmp_path / "x.tflite"), "--input-names", "a,b"]) == 2
    assert "--input-names:" in capsys.readouterr().err


def test_calibration_keys_of_a_spec_are_checked_before_tensorflow(models_dir, tmp_path):
    """A spec names its inputs, so a calibration file without them is refused before TensorFlow loads (was ~5 s later);
    the check reads only the .npz's member names. In a subprocess: the refusal must not have imported TensorFlow."""
    import subprocess
    import sys

    np.savez(tmp_path / "wrong.npz", other=np.zeros((4, 128, 3), np.float32))
    code = ("import sys, litesig\n"
            "try:\n"
            f"    litesig.convert({str(models_dir / 'litesig.toml')!r}, {str(tmp_path / 'x.tflite')!r}, optimize='int8', "
            f"calibration={str(tmp_path / 'wrong.npz')!r})\n"
            "except litesig.InvalidInput as e:\n"
            "    print(e)\n"
            "print('tensorflow' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "False", proc.stdout + proc.stderr
    assert "sample_method_name/x_input" in proc.stdout and "the file has: other" in proc.stdout
    assert not (tmp_path / "x.tflite").exists()
