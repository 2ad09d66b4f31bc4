"""A proof you can trust: no user code runs while converting, wiring is by name and stable across
processes, and verify's reference is independent of the wrapper that was converted.

Every expected number here is computed in the test from the source (TensorFlow / Keras directly,
ai-edge-litert directly), never through litesig's own verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.cli.main import main
from litesig.errors import VerificationFailed

TRAINER = '''
import sys
import numpy as np
import tensorflow as tf


class Trainable(tf.Module):
    """The on-device training module of the TensorFlow Lite guide: train, infer, save, restore."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32), name="w")
        self.b = tf.Variable(np.zeros(2, np.float32), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"), tf.TensorSpec([None, 2], tf.float32, name="y")])
    def train(self, x, y):
        err = tf.matmul(x, self.w) + self.b - y
        n = tf.cast(tf.shape(x)[0] * 2, tf.float32)
        self.w.assign_sub(0.1 * tf.matmul(x, err, transpose_a=True) * (2.0 / n))
        self.b.assign_sub(0.1 * tf.reduce_sum(err, axis=0) * (2.0 / n))
        return {"loss": tf.reduce_mean(tf.square(err))}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def infer(self, x):
        return {"output": tf.matmul(x, self.w) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="checkpoint_path")])
    def save(self, checkpoint_path):
        tf.raw_ops.Save(filename=checkpoint_path, tensor_names=["w", "b"], data=[self.w, self.b])
        return {"checkpoint_path": checkpoint_path}

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="checkpoint_path")])
    def restore(self, checkpoint_path):
        self.w.assign(tf.ensure_shape(tf.raw_ops.Restore(file_pattern=checkpoint_path, tensor_name="w", dt=tf.float32), [4, 2]))
        self.b.assign(tf.ensure_shape(tf.raw_ops.Restore(file_pattern=checkpoint_path, tensor_name="b", dt=tf.float32), [2]))
        return {"w": self.w.read_value(), "b": self.b.read_value()}


m = Trainable()
tf.saved_model.save(m, sys.argv[1], signatures={name: getattr(m, name).get_concrete_function()
                                                for name in ("train", "infer", "save", "restore")})
'''

TWO_INPUTS = '''
import sys
import tensorflow as tf


class Two(tf.Module):
    """Two inputs whose roles differ (swapping them changes the result), named like a text model's."""

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="input_ids"),
                                  tf.TensorSpec([None, 3], tf.float32, name="attention_mask")])
    def serve(self, input_ids, attention_mask):
        return {"hidden": input_ids * 3.0 - attention_mask}


m = Two()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve.get_concrete_function()})
'''


def _build(script: str, out: Path) -> Path:
    """Build a SavedModel in a child process, so no state of it lives in the test process."""
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trainer(tmp_path_factory) -> Path:
    return _build(TRAINER, tmp_path_factory.mktemp("trainer") / "saved_model")


def test_training_module_converts_with_all_four_signatures_and_runs_nothing(trainer, tmp_path, monkeypatch, tf):
    before = _tree_digest(trainer)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = litesig.convert(trainer, tmp_path / "t.tflite", select_tf_ops=True)

    # Converting changed nothing but the output: the SavedModel is byte-identical, no checkpoint appeared.
    assert _tree_digest(trainer) == before
    assert list(work.iterdir()) == []
    assert sorted(result.signatures) == ["infer", "restore", "save", "train"]

    report = result.verification
    ran = {c.signature for c in report.cases}
    assert ran == {"infer", "train"} and all(c.passed for c in report.cases)
    assert dict(report.unverified).keys() == {"save", "restore"}
    assert any("step 3 of 3" in str(c.input_shapes) for c in report.cases if c.signature == "train")
    assert any("signature 'save' NOT verified" in n for n in result.notes)


def test_training_module_train_then_infer_matches_tensorflow(trainer, tmp_path, tf):
    path = litesig.convert(trainer, tmp_path / "t.tflite", select_tf_ops=True).path
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = rng.normal(size=(5, 2)).astype(np.float32)

    source = tf.saved_model.load(str(trainer))
    interpreter = Interpreter(model_path=str(path))
    train, infer = interpreter.get_signature_runner("train"), interpreter.get_signature_runner("infer")

    # The file's initial weights are the source's.
    np.testing.assert_allclose(infer(x=x)["output"], source.signatures["infer"](x=tf.constant(x))["output"].numpy(), atol=1e-6)
    for _ in range(4):
        got = train(x=x, y=y)["loss"]
        want = source.signatures["train"](x=tf.constant(x), y=tf.constant(y))["loss"].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(infer(x=x)["output"], source.signatures["infer"](x=tf.constant(x))["output"].numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> Path:
    return _build(TWO_INPUTS, tmp_path_factory.mktemp("two") / "saved_model")


def test_positional_renames_follow_the_functions_argument_order_in_every_process(two_inputs, tmp_path, tf):
    # The function behind the signature declares (input_ids, attention_mask); the signature's own dict has no order.
    wirings = set()
    for seed in ("1", "2", "3", "4"):
        out = tmp_path / f"m{seed}.tflite"
        proc = subprocess.run(
            [sys.executable, "-m", "litesig", "convert", str(two_inputs), "-o", str(out), "--signature", "embed",
             "--input-names", "token_ids,mask", "--output-names", "hidden_state", "--json", "-q"],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        wirings.add(json.dumps(report["wiring"]))
        assert any("the argument order of the SavedModel's function 'serve'" in n for n in report["notes"]), report["notes"]

        # Independent parity: the SavedModel called by keyword, mapped through the names asked for.
        fn = tf.saved_model.load(str(two_inputs)).signatures["serving_default"]
        rng = np.random.default_rng(int(seed))
        mask, ids = (rng.normal(size=(2, 3)).astype(np.float32) for _ in range(2))
        want = fn(input_ids=tf.constant(ids), attention_mask=tf.constant(mask))["hidden"].numpy()
        got = Interpreter(model_path=str(out)).get_signature_runner("embed")(token_ids=ids, mask=mask)["hidden_state"]
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert len(wirings) == 1
    assert json.loads(wirings.pop())["embed"][:2] == ["serving_default.input_ids <- token_ids", "serving_default.attention_mask <- mask"]


DICT_ARGUMENT = '''
import sys
import tensorflow as tf


class Two(tf.Module):
    """The function takes one dict: its inputs have no declared order."""

    @tf.function(input_signature=[{"input_ids": tf.TensorSpec([None, 3], tf.float32, name="input_ids"),
                                   "attention_mask": tf.TensorSpec([None, 3], tf.float32, name="attention_mask")}])
    def serve(self, features):
        return {"hidden": features["input_ids"] * 3.0 - features["attention_mask"], "other": features["attention_mask"] + 1.0}


m = Two()
tf.saved_model.save(m, sys.argv[1], signatures={"serving_default": m.serve.get_concrete_function()})
'''


@pytest.fixture(scope="module")
def unordered(tmp_path_factory) -> Path:
    return _build(DICT_ARGUMENT, tmp_path_factory.mktemp("dict") / "saved_model")


def test_positional_names_over_inputs_without_a_declared_order_are_refused(unordered, tmp_path, capsys):
    out = tmp_path / "never.tflite"
    assert main(["convert", str(unordered), "-o", str(out), "--input-names", "a,b"]) == 2
    err = capsys.readouterr().err
    assert "does not declare the order of its 2 inputs" in err and "attention_mask, input_ids" in err
    assert "--input-map attention_mask=NEW1,input_ids=NEW2" in err
    assert main(["convert", str(unordered), "-o", str(out), "--output-names", "h,o"]) == 2
    assert "does not declare the order of its 2 outputs" in capsys.readouterr().err
    assert not out.exists()
    # The explicit form works, comma-separated like --input-names.
    assert main(["convert", str(unordered), "-o", str(out), "--input-map", "input_ids=ids,attention_mask=mask",
                 "--output-map", "hidden=h", "-q"]) == 0
    assert sorted(Interpreter(model_path=str(out)).get_signature_list()["serving_default"]["inputs"]) == ["ids", "mask"]


def test_spec_positional_forms_over_an_undeclared_order_are_refused(unordered, tmp_path):
    base = f'[models.m]\npath = "{unordered}"\n[signatures.s.inputs]\nx = {{}}\ny = {{}}\n'
    cases = {
        "list": base + '[signatures.s.outputs]\nh = { model = "m", inputs = ["x", "y"], output = "hidden" }\n',
        "by count": base + '[signatures.s.outputs]\nh = "m.hidden"\n',
        "output index": base.replace("y = {}", "") + '[signatures.s.outputs]\nh = { model = "m", inputs = { input_ids = "x", '
                                                     'attention_mask = "x" }, output = 1 }\n',
    }
    for label, text in cases.items():
        (tmp_path / f"{label}.toml").write_text(text)
        with pytest.raises(litesig.InvalidInput, match="does not declare the order") as caught:
            litesig.convert(tmp_path / f"{label}.toml", tmp_path / "never.tflite", dry_run=True)
        assert ("hidden, other" if label == "output index" else "attention_mask, input_ids") in str(caught.value), label
    (tmp_path / "named.toml").write_text(
        base + '[signatures.s.outputs]\nh = { model = "m", inputs = { input_ids = "x", attention_mask = "y" }, output = "hidden" }\n')
    result = litesig.convert(tmp_path / "named.toml", tmp_path / "named.tflite")
    assert result.verification is not None and result.verification.passed


def test_input_map_renames_by_name(two_inputs, tmp_path, tf):
    result = litesig.convert(two_inputs, tmp_path / "m.tflite", signature="embed",
                             input_map={"input_ids": "tokens", "attention_mask": "mask"}, output_map={"hidden": "h"})
    assert result.signatures == {"embed": {"inputs": ["tokens", "mask"], "outputs": ["h"]}}  # the function's argument order
    assert result.verification.passed


def test_dry_run_shows_the_wiring_and_writes_nothing(two_inputs, tmp_path, capsys):
    out = tmp_path / "never.tflite"
    assert main(["convert", str(two_inputs), "-o", str(out), "--input-names", "a,b", "--dry-run", "-q"]) == 0
    text = capsys.readouterr().out
    assert "serving_default.input_ids <- a" in text and "serving_default.attention_mask <- b" in text
    assert not out.exists()


def test_a_wrapper_that_swaps_inputs_makes_verification_fail(two_inputs, tmp_path, monkeypatch):
    """The reference never goes through the wrapper: break the wrapper's wiring and the check must catch it."""
    from litesig.conversion import wrapping as conversion

    real = conversion._call_in_graph

    def swapped(model, feeds):
        a, b = list(feeds)
        return real(model, {a: feeds[b], b: feeds[a]})

    monkeypatch.setattr(conversion, "_call_in_graph", swapped)
    out = tmp_path / "bad.tflite"
    with pytest.raises(VerificationFailed, match="does not compute what the source computes") as caught:
        litesig.convert(two_inputs, out)
    assert str(out) in str(caught.value) and "<" not in str(caught.value).split(":")[0]
    assert not out.exists()


def test_int8_verifies_on_the_calibration_data_range(tmp_path, keras):
    """A uint8 image model calibrated on 0..255 is checked on inputs from that range, not on 0..10."""
    keras.utils.set_random_seed(3)
    x = keras.Input((6, 6, 1), name="image")
    h = keras.layers.Rescaling(1 / 255.0)(x)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    y = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    keras.Model(x, y).save(tmp_path / "img.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", image=rng.integers(0, 256, size=(32, 1, 6, 6, 1)).astype(np.uint8))
    (tmp_path / "s.toml").write_text(
        '[models.m]\npath = "img.keras"\n[signatures.classify.inputs]\nimage = { dtype = "uint8", shape = [1, 6, 6, 1] }\n'
        '[signatures.classify.outputs]\nlogits = "m"\n[convert]\noptimize = "int8"\ncalibration = "calib.npz"\n')
    result = litesig.convert(tmp_path / "s.toml", tmp_path / "i.tflite")
    report = result.verification
    assert report.passed and "calibration samples themselves" in report.inputs and len(report.cases) == 4  # a fixed batch

    # Independently: on realistic images the file agrees with Keras.
    model = keras.models.load_model(tmp_path / "img.keras")
    runner = Interpreter(model_path=str(result.path)).get_signature_runner("classify")
    images = rng.integers(0, 256, size=(8, 1, 6, 6, 1)).astype(np.uint8)
    got = np.concatenate([runner(image=im)["logits"] for im in images])
    want = np.concatenate([np.asarray(model(im.astype(np.float32))) for im in images])
    cosine = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cosine > 0.95


def test_int8_verifies_on_the_calibration_samples_not_their_range(tmp_path, keras):
    """Heavy-tailed calibration data (a few large values, as real data has): inputs drawn uniformly over its min..max
    are mostly far outside what the file was calibrated for, so a correct file was refused. It is checked on the
    samples themselves, and agrees with Keras on fresh data drawn the same way."""
    keras.utils.set_random_seed(1)
    x = keras.Input((16,), name="features")
    h = keras.layers.Dense(32, activation="relu")(x)
    y = keras.layers.Dense(4)(keras.layers.Dense(32, activation="relu")(h))
    model = keras.Model(x, y)
    model.save(tmp_path / "mlp.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", features=rng.standard_t(3, size=(64, 1, 16)).astype(np.float32))
    result = litesig.convert(tmp_path / "mlp.keras", tmp_path / "q.tflite", optimize="int8", calibration=tmp_path / "calib.npz")
    report = result.verification
    assert report is not None and report.passed, report.failures()
    assert "calibration samples themselves" in report.inputs and "as one batch" in report.inputs
    assert len(report.cases) == 5

    runner = Interpreter(model_path=str(result.path)).get_signature_runner("serving_default")
    fresh = rng.standard_t(3, size=(32, 16)).astype(np.float32)
    got = runner(features=fresh)[next(iter(runner.get_output_details()))]
    want = np.asarray(model(fresh))
    cosine = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cosine > 0.95


def test_calibration_in_the_apps_terms(tmp_path, keras, capsys):
    """The app feeds uint8 images to a float model that takes 0..255: uint8 calibration arrays are those values
    (an .npz or, for one input, an .npy); all-NaN calibration is a message, not a traceback."""
    keras.utils.set_random_seed(4)
    x = keras.Input((6, 6, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255.0)(x))
    keras.Model(x, keras.layers.Dense(3)(keras.layers.Flatten()(h))).save(tmp_path / "img.keras")
    images = np.random.default_rng(0).integers(0, 256, size=(16, 1, 6, 6, 1)).astype(np.uint8)
    np.savez(tmp_path / "calib.npz", image=images)
    np.save(tmp_path / "calib.npy", images)
    for calib in ("calib.npz", "calib.npy"):
        out = tmp_path / f"{calib}.tflite"
        assert main(["convert", str(tmp_path / "img.keras"), "-o", str(out), "--optimize", "int8", "--calibration",
                     str(tmp_path / calib), "--input-dtype", "uint8", "--input-shape", "image=1,6,6,1", "-q"]) == 0, capsys.readouterr().err
        detail = Interpreter(model_path=str(out)).get_signature_runner("serving_default").get_input_details()["image"]
        assert detail["dtype"] == np.uint8
    np.savez(tmp_path / "nan.npz", image=np.full((4, 1, 6, 6, 1), np.nan, np.float32))
    assert main(["convert", str(tmp_path / "img.keras"), "-o", str(tmp_path / "nan.tflite"), "--optimize", "int8",
                 "--calibration", str(tmp_path / "nan.npz")]) == 2
    err = capsys.readouterr().err
    assert "no finite value" in err and "Traceback" not in err and not (tmp_path / "nan.tflite").exists()


EFFECTS = '''
import sys
import tensorflow as tf

SPEC = [tf.TensorSpec([None, 2], tf.float32, name="x")]


class Effects(tf.Module):
    @tf.function(input_signature=SPEC)
    def pure(self, x):
        return {"y": x * 2.0}

    @tf.function(input_signature=SPEC)
    def printer(self, x):
        tf.print(x, output_stream="file://" + sys.argv[2])
        return {"y": x * 2.0}

    @tf.function(input_signature=SPEC)
    def python(self, x):
        return {"y": tf.py_function(lambda a: a * 2.0, [x], tf.float32)}

    @tf.function(input_signature=SPEC)
    def numpy(self, x):
        return {"y": tf.numpy_function(lambda a: a * 2.0, [x], tf.float32)}


m = Effects()
tf.saved_model.save(m, sys.argv[1], signatures={k: getattr(m, k) for k in ("pure", "printer", "python", "numpy")})
'''


def test_verify_never_runs_a_signature_with_effects_outside_the_model(tmp_path, capsys):
    """verify --against a SavedModel whose signature tf.prints to a file wrote that file (exit 0). Signatures whose graph
    holds an op outside the allow-list (PrintV2 to file://, py_function, numpy_function) are not run, on either side."""
    written = tmp_path / "leak.txt"
    done = subprocess.run([sys.executable, "-c", EFFECTS, str(tmp_path / "sm"), str(written)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert not written.exists()  # saving traced, nothing ran
    pure = litesig.convert(tmp_path / "sm", tmp_path / "pure.tflite", signature_keys=["pure"])
    assert pure.verification.passed and {c.signature for c in pure.verification.cases} == {"pure"}
    merged = tmp_path / "four.tflite"
    litesig.merge([pure.path, pure.path, pure.path, pure.path], merged, renames={("1", "pure"): "pure", ("2", "pure"): "printer",
                                                                                 ("3", "pure"): "python", ("4", "pure"): "numpy"})
    assert main(["verify", str(merged), "--against", str(tmp_path / "sm"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not written.exists()
    assert {c["signature"] for c in report["cases"]} == {"pure"}
    notes = dict(report["unverified"])
    assert "PrintV2 (prints to file://" in notes["printer"]
    assert "EagerPyFunc (runs Python (tf.py_function))" in notes["python"]
    assert "PyFunc" in notes["numpy"] and "runs Python" in notes["numpy"]


def test_the_allow_list_reads_the_graph(tf):
    from litesig.sources.effects import outside_effects

    @tf.function(input_signature=[tf.TensorSpec([2], tf.float32)])
    def chatty(x):
        tf.print("to stderr", x)  # the process's own stream: may run
        v = tf.random.uniform([2])  # stateful, but inside the model
        return x + v

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def reader(path):
        return tf.io.read_file(path)  # stateless by the registry, but reads a file

    assert outside_effects(chatty.get_concrete_function()) == []
    assert outside_effects(reader.get_concrete_function()) == ["ReadFile (reads a file)"]


def test_quiet_prints_only_the_result(two_inputs, tmp_path, capsys):
    assert main(["convert", str(two_inputs), "-o", str(tmp_path / "q.tflite"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().count("\n") == 0 and captured.out.startswith("wrote ") and "verified" in captured.out
    assert captured.err == ""
