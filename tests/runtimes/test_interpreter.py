"""run, verify and bench on the real LiteRT runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest

import litesig
from litesig.cli.main import main
from litesig.errors import InvalidInput, LitesigError, SignatureNotFound


@pytest.fixture
def x():
    return np.random.default_rng(7).uniform(-1, 1, (2, 128, 3)).astype(np.float32)


def test_run_matches_the_source(converted, models_dir, keras, x):
    out = litesig.run(converted["seed"], {"x_input": x})
    a = keras.models.load_model(models_dir / "model_a.keras")
    assert out["my_output_a"].shape == (2, 4)
    assert np.abs(out["my_output_a"] - a(x).numpy()).max() < 1e-5


def test_runner_is_reusable_and_resizes_dynamic_dims(converted, x):
    runner = litesig.Runner(converted["seed"])
    first = runner.run({"x_input": x}, signature="sample_method_name")
    single = runner.run({"x_input": x[:1]})
    assert first["my_output_b"].shape == (2, 2) and single["my_output_b"].shape == (1, 2)
    np.testing.assert_allclose(first["my_output_b"][:1], single["my_output_b"], rtol=1e-6, atol=1e-6)


def test_signature_order_is_the_files(converted):
    assert litesig.Runner(converted["coder"]).signatures == ["decode", "encode"]


def test_wrong_signature_suggests_a_near_name(converted, x):
    with pytest.raises(SignatureNotFound, match="no signature 'encod'; the model has: decode, encode \\(did you mean 'encode'\\?\\)"):
        litesig.run(converted["coder"], {"x": x}, signature="encod")


def test_several_signatures_need_a_choice(converted):
    with pytest.raises(LitesigError, match="has 2 signatures \\(decode, encode\\); choose one with --signature"):
        litesig.run(converted["coder"], {"x": np.zeros((1, 4), np.float32)})


def test_input_problems_are_listed_together(converted):
    with pytest.raises(InvalidInput) as e:
        litesig.run(converted["multi"], {"imagee": np.zeros((1, 6), np.float32), "mask": np.zeros((1, 3), np.float32)})
    text = str(e.value)
    assert "imagee: not an input of this signature (did you mean 'image'?)" in text
    assert "image: missing input; expected float32 [-1, 6]" in text
    assert "mask: shape [1, 3], expected [-1, 2]" in text


def test_wrong_dtype(converted):
    with pytest.raises(InvalidInput, match="dtype int64, expected float32"):
        litesig.run(converted["seed"], {"x_input": np.zeros((1, 128, 3), np.int64)})


def test_cli_run_npy_to_npz_and_json(converted, tmp_path, x, capsys):
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    assert main(["run", str(converted["seed"]), "--input", f"x_input={tmp_path / 'x.npy'}", "-o", str(out)]) == 0
    with np.load(out) as npz:
        assert set(npz.files) == {"my_output_a", "my_output_b"} and npz["my_output_a"].shape == (2, 4)
    capsys.readouterr()
    np.savez(tmp_path / "batch.npz", x_input=x)
    assert main(["run", str(converted["seed"]), "--inputs", str(tmp_path / "batch.npz"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["signature"] == "sample_method_name" and len(doc["outputs"]["my_output_b"]["values"]) == 2


def test_cli_run_errors_exit_2(converted, tmp_path, capsys):
    assert main(["run", str(converted["seed"])]) == 2
    assert "none given" in capsys.readouterr().err
    assert main(["run", str(converted["seed"]), "--input", "x_input=/nope.npy"]) == 2
    assert main(["run", str(converted["coder"]), "--random"]) == 2
    assert "choose one with --signature" in capsys.readouterr().err


def test_verify_against_spec_keras_savedmodel_and_tflite(converted, models_dir):
    assert litesig.verify(converted["seed"], models_dir / "litesig.toml").passed
    assert litesig.verify(converted["coder"], models_dir / "coder", samples=2).passed
    multi = litesig.verify(converted["multi"], models_dir / "multi.keras")
    assert multi.passed and {c.signature for c in multi.cases} == {"detect"}
    cross = litesig.verify(converted["seed_int8"], converted["seed"])
    assert cross.passed and cross.tolerance.name == "int8"


def test_verify_reports_every_metric(converted, models_dir):
    report = litesig.verify(converted["seed_f16"], models_dir / "litesig.toml", batch_sizes=[1, 2, 5])
    assert report.tolerance.name == "float16"
    assert sorted({c.input_shapes["x_input"][0] for c in report.cases}) == [1, 2, 5]
    out = report.cases[0].outputs[0]
    assert out.max_abs > 0 and out.rmse > 0 and 0.999 < out.cosine <= 1.0 and out.nan == out.inf == 0


def test_verify_overrides_can_fail_a_model(converted, models_dir, capsys):
    assert main(["verify", str(converted["seed_f16"]), "--against", str(models_dir / "litesig.toml"), "--atol", "0", "--rtol", "0", "-q"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_with_user_inputs(converted, models_dir, tmp_path):
    np.savez(tmp_path / "in.npz", **{"encode/x": np.ones((5, 4), np.float32), "code": np.ones((2, 3), np.float32)})
    report = litesig.verify(converted["coder"], models_dir / "coder", inputs=tmp_path / "in.npz")
    assert report.passed and [c.input_shapes for c in report.cases] == [{"code": (2, 3)}, {"x": (5, 4)}]


def test_textbook_recipe_is_caught(textbook_nan_model, capsys):
    """The regression from STACK.md: perfect signature list, NaN/garbage numbers. verify must fail it."""
    path = textbook_nan_model / "textbook.tflite"
    report = litesig.verify(path, textbook_nan_model / "litesig.toml")
    assert not report.passed
    assert main(["verify", str(path), "--against", str(textbook_nan_model / "litesig.toml"), "--json", "-q"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False


def test_verify_keras_against_multi_signature_file_needs_a_choice(converted, models_dir):
    with pytest.raises(LitesigError, match="pick one with --signature"):
        litesig.verify(converted["coder"], models_dir / "multi.keras")


def test_bench(converted, capsys):
    result = litesig.bench(converted["seed"], runs=20, warmup=2, threads=1, shapes={"x_input": [4, 128, 3]})
    assert result.input_shapes == {"x_input": [4, 128, 3]} and result.runs == 20
    assert 0 < result.min_ms <= result.median_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.init_ms > 0 and result.first_invoke_ms > 0 and result.peak_rss_mib > 0
    assert main(["bench", str(converted["seed"]), "--runs", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["signature"] == "sample_method_name"


def test_bench_shape_errors(converted, capsys):
    assert main(["bench", str(converted["seed"]), "--shape", "x_input=1,64,3"]) == 2
    assert "contradicts the input's shape [-1, 128, 3]" in capsys.readouterr().err
    assert main(["bench", str(converted["seed"]), "--shape", "x_input=a,b"]) == 2


def test_verify_tries_dynamic_dims_at_several_sizes(tmp_path, keras):
    x = keras.Input((None, 3), name="seq")
    keras.Model(x, keras.layers.Dense(2)(x)).save(tmp_path / "seq.keras")
    result = litesig.convert(tmp_path / "seq.keras", tmp_path / "seq.tflite")
    shapes = {c.input_shapes["seq"] for c in result.verification.cases}
    assert shapes == {(1, 4, 3), (3, 7, 3)}


def test_inputs_must_be_an_npz_archive(converted, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 128, 3), np.float32))
    assert main(["run", str(converted["seed"]), "--inputs", str(tmp_path / "x.npy")]) == 2
    assert "holds a single array (np.save); expected named arrays (np.savez)" in capsys.readouterr().err
    with pytest.raises(InvalidInput, match="--inputs: no such file"):
        litesig.verify(converted["seed"], converted["seed"], inputs=tmp_path / "none.npz")
