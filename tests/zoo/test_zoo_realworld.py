"""The real-world zoo of issue 8: sources a new user brings, each converted with exactly the names asked.

Tiny keras-hub BERT/GPT2 backbones (dict inputs declared out of alphabetical order) from `.keras`
and from `model.export()` SavedModels, a dict-input model with keys zeta/alpha, lookup layers,
tf.Module SavedModels with int64 ids and with strings, and a subclassed model that needs `--code`.
Everything is built here on the spot. Parity is computed in each test from the source itself (the
Keras model called on its dict, the SavedModel signature called by keyword) against the .tflite run
on ai-edge-litert, with the README's tolerances; litesig's own verification runs as well. A source
the converter or runtime cannot take must fail with a message that names the cause and the fix.
"""

from __future__ import annotations

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
from litesig.errors import LitesigError

from ..conversion.test_convert import assert_close

SRC = str(Path(__file__).resolve().parents[2] / "src")
HUB = dict(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
# Names asked for in every conversion of the backbones (the model's own name -> the name the app wants).
BERT_IN = {"token_ids": "ids", "segment_ids": "segments", "padding_mask": "mask"}
BERT_OUT = {"sequence_output": "sequence", "pooled_output": "pooled"}
GPT2_IN = {"token_ids": "ids", "padding_mask": "mask"}


def tflite(path: Path, signature: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    runner = Interpreter(model_path=str(path)).get_signature_runner(signature)
    return runner(**inputs)


def signature_names(path: Path, signature: str) -> tuple[list[str], list[str]]:
    listing = Interpreter(model_path=str(path)).get_signature_list()[signature]
    return sorted(listing["inputs"]), sorted(listing["outputs"])


def token_batch(batch: int = 2, length: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Realistic backbone inputs: ids in the vocabulary, segments 0/1, a padding mask with trailing zeros."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), np.int32)
    mask[0, length - 3:] = 0
    return {"token_ids": rng.integers(1, HUB["vocabulary_size"], (batch, length)).astype(np.int32),
            "segment_ids": (np.arange(length)[None, :] >= length // 2).repeat(batch, 0).astype(np.int32),
            "padding_mask": mask}


@pytest.fixture(scope="module")
def hub(keras, tmp_path_factory):
    """BERT and GPT2 backbones: the Keras objects, their .keras files and their model.export() SavedModels."""
    import keras_hub

    d = tmp_path_factory.mktemp("hub")
    keras.utils.set_random_seed(0)
    models = {"bert": keras_hub.models.BertBackbone(**HUB), "gpt2": keras_hub.models.GPT2Backbone(**HUB)}
    for name, model in models.items():
        model.save(d / f"{name}.keras")
        model.export(str(d / f"{name}_sm"), verbose=False)
    calib = d / "calib.npz"
    sample = token_batch(8, seed=1)
    np.savez(calib, ids=sample["token_ids"], segments=sample["segment_ids"], mask=sample["padding_mask"])
    return d, models, calib


# --- 1. keras-hub backbones from .keras, every optimize mode -------------------------------------


@pytest.mark.parametrize("mode", ["none", "float16", "dynamic-int8", "int8"])
@pytest.mark.parametrize("backbone", ["bert", "gpt2"])
def test_hub_backbone_from_keras(hub, tmp_path, backbone, mode):
    d, models, calib = hub
    model = models[backbone]
    names_in = BERT_IN if backbone == "bert" else GPT2_IN
    names_out = BERT_OUT if backbone == "bert" else {"layer_norm": "sequence"}  # GPT2 has one output, named after its layer
    out = tmp_path / f"{backbone}-{mode}.tflite"
    result = litesig.convert(d / f"{backbone}.keras", out, signature="embed", input_map=names_in, output_map=names_out,
                             optimize=mode, calibration=calib if mode == "int8" else None)
    assert result.verification is not None and result.verification.passed
    assert signature_names(out, "embed") == (sorted(names_in.values()), sorted(names_out.values()))
    assert "model.token_ids <- ids" in result.wiring["embed"]

    x = {k: v for k, v in token_batch().items() if k in names_in}
    want = model(x, training=False)  # the source, called as a user calls it: a dict by key
    want = want if isinstance(want, dict) else {"layer_norm": want}
    got = tflite(out, "embed", **{names_in[k]: v for k, v in x.items()})
    for key, new in names_out.items():
        assert_close(got[new], np.asarray(want[key]), mode)


# --- 2. keras-hub backbones exported with model.export(): SavedModel, renamed ---------------------


def _saved_model_reference(path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feed.items()}).items()}


def test_hub_saved_model_positional_names_are_refused_and_the_map_works(hub, tmp_path):
    """keras-hub's export takes a dict: no declared order, so positional names would be a guess (issue 17: 0.92 error)."""
    d, _, _ = hub
    x = token_batch()
    want = _saved_model_reference(d / "bert_sm", x)
    with pytest.raises(litesig.InvalidInput, match="does not declare the order of its 3 inputs") as caught:
        litesig.convert(d / "bert_sm", tmp_path / "pos.tflite", signature_keys=["serving_default"], signature="embed",
                        input_names=["mask", "segments", "ids"], output_names=["pooled", "sequence"])
    assert "--input-map padding_mask=NEW1,segment_ids=NEW2,token_ids=NEW3" in str(caught.value)
    assert "does not declare the order of its 2 outputs" in str(caught.value)
    assert not (tmp_path / "pos.tflite").exists()
    result = litesig.convert(d / "bert_sm", tmp_path / "map.tflite", signature_keys=["serving_default"], signature="embed",
                             input_map=BERT_IN, output_map=BERT_OUT)
    assert result.verification is not None and result.verification.passed
    assert "'ids': [0, 50]" in result.verification.inputs  # the token table's size, read from the graph
    assert sorted(result.wiring["embed"]) == sorted(
        [f"serving_default.{old} <- {new}" for old, new in BERT_IN.items()]
        + [f"{new} <- serving_default.{old}" for old, new in BERT_OUT.items()])
    got = tflite(result.path, "embed", **{BERT_IN[k]: v for k, v in x.items()})
    for old, new in BERT_OUT.items():
        assert_close(got[new], want[old], "none")


def test_hub_saved_model_wiring_is_the_same_under_every_hash_seed(hub, tmp_path):
    """The issue's first defect: `structured_input_signature` order changes with PYTHONHASHSEED; the wiring must not."""
    d, _, _ = hub
    x = token_batch()
    want = _saved_model_reference(d / "gpt2_sm", {k: x[k] for k in GPT2_IN})["output_0"]
    procs = {}
    for seed in (1, 2, 3, 4):
        out = tmp_path / f"gpt2_{seed}.tflite"
        argv = [sys.executable, "-m", "litesig", "convert", str(d / "gpt2_sm"), "-o", str(out), "--json",
                "--signature-keys", "serving_default", "--signature", "embed",
                "--input-map", "padding_mask=mask,token_ids=ids", "--output-names", "hidden"]  # a dict: by name only
        env = {**os.environ, "PYTHONPATH": SRC, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": str(seed)}
        procs[seed] = (out, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    wirings = {}
    for seed, (out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        report = json.loads(stdout)
        assert report["verification"]["passed"]
        wirings[seed] = report["wiring"]["embed"]
        got = tflite(out, "embed", ids=x["token_ids"], mask=x["padding_mask"])["hidden"]
        assert_close(got, want, "none")
    assert all(w == wirings[1] for w in wirings.values()), wirings
    assert sorted(wirings[1]) == sorted(["serving_default.padding_mask <- mask", "serving_default.token_ids <- ids",
                                         "hidden <- serving_default.output_0"])


def test_hub_image_backbone_with_generated_input_names(keras, tmp_path):
    """keras-hub ResNet: its input is named by Keras' global counter (keras_tensor_14, then keras_tensor_28 on the next
    load); convert loads it once to convert and once more as the reference, which must not refuse the right file."""
    import keras_hub

    keras.utils.set_random_seed(0)
    model = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64], stackwise_num_blocks=[1],
        stackwise_num_strides=[1], block_type="basic_block", use_pre_activation=False, image_shape=(16, 16, 3))
    model.save(tmp_path / "resnet.keras")
    result = litesig.convert(tmp_path / "resnet.keras", tmp_path / "resnet.tflite", signature="features",
                             input_names="image", output_names="features")
    assert result.verification is not None and result.verification.passed
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    want = np.asarray(model(x, training=False))
    got = tflite(result.path, "features", image=x)["features"]
    assert_close(got, want, "none")
    # The dry run's name is the one every later load gives, so a by-name map keeps working.
    plan = litesig.convert(tmp_path / "resnet.keras", tmp_path / "never.tflite", dry_run=True)
    assert plan.wiring["serving_default"][0] == "model.keras_tensor <- keras_tensor"
    again = litesig.convert(tmp_path / "resnet.keras", tmp_path / "map.tflite", input_map={"keras_tensor": "image"})
    assert again.verification is not None and again.verification.passed


# --- 3. dict inputs declared out of alphabetical order ------------------------------------------


def test_dict_inputs_out_of_alphabetical_order(keras, tmp_path):
    zeta, alpha = keras.Input((3,), name="zeta"), keras.Input((2,), name="alpha")
    h = keras.layers.Concatenate()([keras.layers.Dense(4)(zeta), alpha])
    model = keras.Model({"zeta": zeta, "alpha": alpha}, {"score": keras.layers.Dense(2)(h)})
    model.save(tmp_path / "za.keras")
    result = litesig.convert(tmp_path / "za.keras", tmp_path / "za.tflite", signature="score",
                             input_map={"zeta": "z", "alpha": "a"}, output_map={"score": "s"})
    assert result.verification is not None and result.verification.passed
    assert signature_names(result.path, "score") == (["a", "z"], ["s"])
    rng = np.random.default_rng(0)
    x = {"zeta": rng.normal(size=(3, 3)).astype(np.float32), "alpha": rng.normal(size=(3, 2)).astype(np.float32)}
    want = model(x, training=False)["score"]
    got = tflite(result.path, "score", z=x["zeta"], a=x["alpha"])["s"]
    assert_close(got, np.asarray(want), "none")


# --- 4. lookup layers: StringLookup runs end to end; the rest need Flex, and say so --------------

VOCAB = ["the", "cat", "sat", "on", "mat"]


@pytest.fixture(scope="module")
def lookups(keras, tmp_path_factory):
    d = tmp_path_factory.mktemp("lookups")
    keras.utils.set_random_seed(0)
    words = keras.Input((4,), dtype="string", name="words")
    ids = keras.layers.StringLookup(vocabulary=VOCAB)(words)
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(len(VOCAB) + 1, 4)(ids))
    string_lookup = keras.Model(words, {"logits": keras.layers.Dense(2)(pooled)})
    string_lookup.save(d / "string_lookup.keras")

    text = keras.Input((1,), dtype="string", name="text")
    vectorize = keras.layers.TextVectorization(max_tokens=10, output_sequence_length=5, vocabulary=VOCAB)
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 4)(vectorize(text)))
    keras.Model(text, keras.layers.Dense(2)(pooled)).save(d / "text_vectorization.keras")

    codes = keras.Input((3,), dtype="int64", name="codes")
    looked_up = keras.layers.IntegerLookup(vocabulary=np.array([10, 20, 30, 40], dtype="int64"))(codes)
    hashed = keras.layers.Hashing(num_bins=8)(codes)
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(5, 4)(looked_up)),
                                         keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(8, 4)(hashed))])
    keras.Model(codes, keras.layers.Dense(2)(pooled)).save(d / "integer_lookup.keras")
    return d, string_lookup


def test_string_lookup_string_input_end_to_end(lookups, tmp_path):
    d, model = lookups
    words = np.array([["the", "cat", "sat", "dog"], ["on", "the", "mat", "mat"], ["zebra", "on", "cat", "the"]])
    np.savez(tmp_path / "words.npz", words=words)  # text as the user has it ('<U'): encoded as UTF-8 for LiteRT
    result = litesig.convert(d / "string_lookup.keras", tmp_path / "lookup.tflite", signature="classify",
                             output_map={"logits": "scores"}, verify_inputs=tmp_path / "words.npz")
    assert result.verification is not None and result.verification.passed
    auto = litesig.convert(d / "string_lookup.keras", tmp_path / "auto.tflite", signature="classify")  # random words
    assert auto.verification is not None and auto.verification.passed
    want = np.asarray(model(words, training=False)["logits"])
    got = tflite(result.path, "classify", words=np.char.encode(words, "utf-8"))["scores"]
    assert_close(got, want, "none")
    assert np.abs(want[0] - want[1]).max() > 1e-4  # the vocabulary matters: different words, different outputs


@pytest.mark.parametrize("name, ops", [("text_vectorization", ["StringSplitV2"]), ("integer_lookup", ["HashTableV2", "StringToHashBucketFast"])])
def test_lookup_layers_without_builtins_name_the_op_and_the_option(lookups, tmp_path, name, ops):
    d, _ = lookups
    with pytest.raises(LitesigError) as e:
        litesig.convert(d / f"{name}.keras", tmp_path / "x.tflite", signature="s")
    assert "--select-tf-ops" in str(e.value) and all(op in str(e.value) for op in ops)
    assert not (tmp_path / "x.tflite").exists()
    # Resources are kept: with Flex the file converts; this runtime cannot run it, and that is said, not hidden.
    with pytest.raises(LitesigError, match="(?s)select-TF ops.*--no-verify"):
        litesig.convert(d / f"{name}.keras", tmp_path / "x.tflite", signature="s", select_tf_ops=True)
    written = litesig.convert(d / f"{name}.keras", tmp_path / "x.tflite", signature="s", select_tf_ops=True, verify=False)
    assert written.path.stat().st_size > 0


# --- 5. tf.Module SavedModels: int64 ids into an embedding, strings -----------------------------


@pytest.fixture(scope="module")
def modules(tf, tmp_path_factory):
    d = tmp_path_factory.mktemp("modules")

    class Embedder(tf.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tf.Variable(np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32), name="embedding")
            self.dense = tf.Variable(np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32), name="dense")

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.int64, name="ids")])
        def embed(self, ids):
            return {"vector": tf.matmul(tf.reduce_mean(tf.nn.embedding_lookup(self.embedding, ids), axis=1), self.dense)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="ids")])
        def rows(self, ids):
            return {"rows": tf.gather(self.embedding, ids)}

    class Picker(tf.Module):  # a 4-row table not named like an embedding: its size is read from the gather in the graph
        def __init__(self):
            super().__init__()
            self.table = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="weights")

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.int64, name="ids")])
        def pick(self, ids):
            return {"rows": tf.gather(self.table, ids)}

    class Opaque(tf.Module):  # the same table behind a shape-less variable: no size can be learned without running it
        def __init__(self):
            super().__init__()
            self.flat = tf.Variable(np.arange(12, dtype=np.float32), shape=tf.TensorShape(None), name="weights")

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.int64, name="ids")])
        def pick(self, ids):
            return {"rows": tf.gather(tf.reshape(self.flat, [-1, 3]), ids)}

    class Vocabulary(tf.Module):  # string input through a lookup table: LiteRT builtins
        def __init__(self):
            super().__init__()
            keys, values = tf.constant(VOCAB), tf.constant(np.arange(len(VOCAB)), tf.int64)
            self.lookup = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=len(VOCAB))
            self.embedding = tf.Variable(np.random.default_rng(2).normal(size=(len(VOCAB) + 1, 3)).astype(np.float32), name="embedding")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def encode(self, words):
            return {"vector": tf.gather(self.embedding, self.lookup.lookup(words))}

    class Strings(tf.Module):  # tf.strings ops: no LiteRT builtin
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def measure(self, text):
            return {"length": tf.strings.length(text), "bucket": tf.strings.to_hash_bucket_fast(text, 16)}

    class Labeller(tf.Module):  # string, bool and int64 outputs: compared exactly, never cast to float
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="scores")])
        def label(self, scores):
            best = tf.argmax(scores, -1)
            return {"label": tf.gather(tf.constant(["cat", "dog", "eel"]), best), "confident": tf.reduce_max(scores, -1) > 0.5,
                    "index": best}

    for name, module, sigs in [("embedder", Embedder(), ("embed", "rows")), ("picker", Picker(), ("pick",)), ("opaque", Opaque(), ("pick",)),
                               ("vocabulary", Vocabulary(), ("encode",)), ("strings", Strings(), ("measure",)),
                               ("labeller", Labeller(), ("label",))]:
        tf.saved_model.save(module, str(d / name), signatures={s: getattr(module, s) for s in sigs})
    return d


def _call_signature(path: Path, signature: str, **feed: np.ndarray) -> dict[str, np.ndarray]:
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feed.items()}).items()}


def test_saved_model_int64_ids_sampled_within_the_embedding(modules, tmp_path):
    result = litesig.convert(modules / "embedder", tmp_path / "e.tflite")  # both signatures, their own names
    assert result.verification is not None and result.verification.passed
    ids = np.random.default_rng(0).integers(0, 30, (3, 6)).astype(np.int64)
    assert_close(tflite(result.path, "embed", ids=ids)["vector"], _call_signature(modules / "embedder", "embed", ids=ids)["vector"], "none")
    flat = ids[0]
    assert_close(tflite(result.path, "rows", ids=flat)["rows"], _call_signature(modules / "embedder", "rows", ids=flat)["rows"], "none")


def test_saved_model_ids_range_from_the_gathered_table(modules, tmp_path):
    result = litesig.convert(modules / "picker", tmp_path / "p.tflite")
    assert result.verification is not None and result.verification.passed and "[0, 4]" in result.verification.inputs
    ids = np.array([[0, 3, 1, 2, 3]], np.int64)
    assert_close(tflite(result.path, "pick", ids=ids)["rows"], _call_signature(modules / "picker", "pick", ids=ids)["rows"], "none")


def test_saved_model_ids_without_a_learnable_range_ask_for_one(modules, tmp_path):
    with pytest.raises(LitesigError) as e:
        litesig.convert(modules / "opaque", tmp_path / "o.tflite")
    message = str(e.value)
    assert "range = [low, high]" in message and "--verify-inputs" in message
    assert not (tmp_path / "o.tflite").exists()
    # Given a range in the spec, the same model converts and verifies.
    spec = tmp_path / "opaque.toml"
    spec.write_text(f'[models.o]\npath = "{modules / "opaque"}"\n\n[signatures.pick.inputs]\nids = {{ range = [0, 4] }}\n\n'
                    '[signatures.pick.outputs]\nrows = "o.rows"\n')
    result = litesig.convert(spec, tmp_path / "o.tflite")
    assert result.verification is not None and result.verification.passed
    ids = np.array([[0, 3, 1, 2, 3]], np.int64)
    assert_close(tflite(result.path, "pick", ids=ids)["rows"], _call_signature(modules / "opaque", "pick", ids=ids)["rows"], "none")


def test_saved_model_string_input(modules, tmp_path):
    result = litesig.convert(modules / "vocabulary", tmp_path / "v.tflite", output_map={"vector": "embedding"})
    assert result.verification is not None and result.verification.passed
    words = np.array([b"the", b"zebra", b"mat", b"cat"])
    want = _call_signature(modules / "vocabulary", "encode", words=words)["vector"]
    assert_close(tflite(result.path, "encode", words=words)["embedding"], want, "none")

    with pytest.raises(LitesigError) as e:
        litesig.convert(modules / "strings", tmp_path / "s.tflite")
    assert "StringLength" in str(e.value) and "--select-tf-ops" in str(e.value)


def test_saved_model_string_and_bool_outputs_compare_exactly(modules, tmp_path):
    result = litesig.convert(modules / "labeller", tmp_path / "l.tflite")
    report = result.verification
    assert report is not None and report.passed
    assert {o.name for c in report.cases for o in c.outputs} == {"label", "confident", "index"}
    scores = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    want = _call_signature(modules / "labeller", "label", scores=scores)
    got = tflite(result.path, "label", scores=scores)
    assert list(got["label"]) == list(want["label"]) and got["confident"].tolist() == want["confident"].tolist()
    assert got["index"].tolist() == want["index"].tolist()


# --- 6. a subclassed model: --code FILE.py with --unsafe -----------------------------------------

CUSTOM = '''
import keras


@keras.saving.register_keras_serializable(package="litesig_zoo")
class TinyNet(keras.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.head = keras.layers.Dense(units)

    def call(self, inputs):
        return self.head(self.hidden(inputs)) * 2.0

    def get_config(self):
        return {**super().get_config(), "units": self.units}
'''

BUILD_CUSTOM = '''
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("custom_net", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.TinyNet(3)
x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
np.savez(sys.argv[3], x=x, y=np.asarray(model(x)))
model.save(sys.argv[2])
'''


@pytest.fixture(scope="module")
def subclassed(tmp_path_factory):
    """Built in a child process, so that this process has not registered the class (as for a user who only has the file)."""
    d = tmp_path_factory.mktemp("subclassed")
    (d / "custom_net.py").write_text(CUSTOM)
    (d / "build.py").write_text(BUILD_CUSTOM)
    done = subprocess.run([sys.executable, str(d / "build.py"), str(d / "custom_net.py"), str(d / "tiny.keras"), str(d / "ref.npz")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    return d


def test_subclassed_model_needs_code(subclassed, tmp_path, capsys):
    d = subclassed
    out = tmp_path / "tiny.tflite"
    assert main(["convert", str(d / "tiny.keras"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "TinyNet" in err and "--code" in err and "--unsafe" in err
    assert main(["convert", str(d / "tiny.keras"), "-o", str(out), "--code", str(d / "custom_net.py")]) == 2
    assert "--unsafe" in capsys.readouterr().err
    assert not out.exists()

    assert main(["convert", str(d / "tiny.keras"), "-o", str(out), "--code", str(d / "custom_net.py"), "--unsafe",
                 "--signature", "predict", "--input-names", "features", "--output-names", "scores",
                 "--input-shape", "features=-1,5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verification"]["passed"]
    ref = np.load(d / "ref.npz")
    assert_close(tflite(out, "predict", features=ref["x"])["scores"], ref["y"], "none")

    # The spec form: code = [...] under [convert], with unsafe = true.
    spec = tmp_path / "litesig.toml"
    spec.write_text(f'[models.net]\npath = "{d / "tiny.keras"}"\n\n[signatures.predict.inputs]\n'
                    'features = { dtype = "float32", shape = [-1, 5] }\n\n[signatures.predict.outputs]\nscores = "net"\n\n'
                    f'[convert]\nunsafe = true\ncode = ["{d / "custom_net.py"}"]\noptimize = "float16"\n')
    result = litesig.convert(spec, tmp_path / "spec.tflite")
    assert result.verification is not None and result.verification.passed
    assert_close(tflite(result.path, "predict", features=ref["x"])["scores"], ref["y"], "float16")


# --- 7. the TensorFlow Lite on-device training guide's module, verbatim (tf_keras) -----------------

GUIDE = '''
import sys
import tensorflow as tf
IMG_SIZE = 28
class Model(tf.Module):
  def __init__(self):
    self.model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(IMG_SIZE, IMG_SIZE), name='flatten'),
        tf.keras.layers.Dense(128, activation='relu', name='dense_1'),
        tf.keras.layers.Dense(10, name='dense_2')
    ])
    self.model.compile(optimizer='sgd', loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True))

  @tf.function(input_signature=[tf.TensorSpec([None, IMG_SIZE, IMG_SIZE], tf.float32), tf.TensorSpec([None, 10], tf.float32)])
  def train(self, x, y):
    with tf.GradientTape() as tape:
      prediction = self.model(x)
      loss = self.model.loss(y, prediction)
    gradients = tape.gradient(loss, self.model.trainable_variables)
    self.model.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
    result = {"loss": loss}
    return result

  @tf.function(input_signature=[tf.TensorSpec([None, IMG_SIZE, IMG_SIZE], tf.float32)])
  def infer(self, x):
    logits = self.model(x)
    probabilities = tf.nn.softmax(logits, axis=-1)
    return {"output": probabilities, "logits": logits}

  @tf.function(input_signature=[tf.TensorSpec(shape=[], dtype=tf.string)])
  def save(self, checkpoint_path):
    tensor_names = [weight.name for weight in self.model.weights]
    tensors_to_save = [weight.read_value() for weight in self.model.weights]
    tf.raw_ops.Save(filename=checkpoint_path, tensor_names=tensor_names, data=tensors_to_save, name='save')
    return {"checkpoint_path": checkpoint_path}

  @tf.function(input_signature=[tf.TensorSpec(shape=[], dtype=tf.string)])
  def restore(self, checkpoint_path):
    restored_tensors = {}
    for var in self.model.weights:
      restored = tf.raw_ops.Restore(file_pattern=checkpoint_path, tensor_name=var.name, dt=var.dtype, name='restore')
      var.assign(restored)
      restored_tensors[var.name] = restored
    return restored_tensors

m = Model()
tf.saved_model.save(m, sys.argv[1], signatures={'train': m.train.get_concrete_function(), 'infer': m.infer.get_concrete_function(), 'save': m.save.get_concrete_function(), 'restore': m.restore.get_concrete_function()})
'''


def test_on_device_training_guide_module_verbatim(tmp_path):
    """The guide's code as published (with tf_keras, which it was written for): restore returns tf.raw_ops.Restore
    tensors of unknown rank named 'dense_1/bias:0'. Converts with all four signatures, infer is verified."""
    d = tmp_path / "guide"
    done = subprocess.run([sys.executable, "-c", GUIDE, str(d)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = litesig.convert(d, tmp_path / "guide.tflite", select_tf_ops=True)
    assert set(result.signatures) == {"train", "infer", "save", "restore"}
    assert "dense_1/bias:0" in result.signatures["restore"]["outputs"]
    report = result.verification
    assert report is not None and report.passed and {c.signature for c in report.cases} == {"infer"}
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28)).astype(np.float32)
    want = _call_signature(d, "infer", x=x)
    got = tflite(result.path, "infer", x=x)
    assert_close(got["logits"], want["logits"], "none")


# --- 8. a tf_keras SavedModel renamed positionally: the declared order, recovered ---------------------

TF_KERAS_TWO_INPUTS = '''
import sys
import tf_keras as K
zeta, alpha = K.Input((4,), name="zeta"), K.Input((4,), name="alpha")
y = K.layers.Dense(3)(K.layers.Concatenate()([zeta, alpha * 3.0]))
K.Model([zeta, alpha], y).save(sys.argv[1], save_format="tf")
'''


def test_tf_keras_saved_model_positional_names_follow_its_declared_order(tmp_path):
    """Issue 17's 0.58 relative error: --input-names over a tf_keras SavedModel went in sorted order (alpha, zeta), crossing
    the inputs the model declares as (zeta, alpha). The order now comes from the model's saved __call__."""
    d = tmp_path / "tk_sm"
    done = subprocess.run([sys.executable, "-c", TF_KERAS_TWO_INPUTS, str(d)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = litesig.convert(d, tmp_path / "tk.tflite", signature="score", input_names=["first", "second"], output_names="y")
    assert result.verification is not None and result.verification.passed
    assert result.wiring["score"][:2] == ["serving_default.zeta <- first", "serving_default.alpha <- second"]
    assert any("the argument order of the SavedModel's function" in n for n in result.notes), result.notes
    rng = np.random.default_rng(0)
    z, a = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=(2, 4)).astype(np.float32)
    want = next(iter(_call_signature(d, "serving_default", zeta=z, alpha=a).values()))
    got = tflite(result.path, "score", first=z, second=a)["y"]
    assert_close(got, want, "none")
