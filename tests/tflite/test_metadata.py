"""`litesig metadata`: TFLite Model Metadata written without TensorFlow, proven by MediaPipe Tasks themselves
(`mediapipe` 1.2.2 in a venv of its own, made once in the runtime cache; never skipped)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import litesig
from litesig.cli.main import main
from litesig.tflite import flatbuffer as fb

from .._mediapipe import mediapipe_python

LABELS = ["cat", "dog", "bird", "fish", "frog"]

CLASSIFY = """
import json, sys
import numpy as np
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions
model, pixels = sys.argv[1], np.load(sys.argv[2])
image = mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)
options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model), max_results=100)
with vision.ImageClassifier.create_from_options(options) as classifier:
    result = classifier.classify(image)
embedder_options = vision.ImageEmbedderOptions(base_options=BaseOptions(model_asset_path=model))
with vision.ImageEmbedder.create_from_options(embedder_options) as embedder:
    embedding = embedder.embed(image).embeddings[0].embedding
print(json.dumps({"categories": [[c.index, c.category_name, c.score] for c in result.classifications[0].categories],
                  "embedding": [float(v) for v in embedding]}))
"""


@pytest.fixture(scope="module")
def classifier(keras, tmp_path_factory) -> Path:
    """A Keras image classifier (16x16 RGB, 5 classes, softmax) converted by litesig at batch 1."""
    d = tmp_path_factory.mktemp("mp")
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax", name="probs")(x)
    keras.Model(inp, out).save(d / "classifier.keras")
    return litesig.convert(d / "classifier.keras", d / "classifier.tflite", signature="classify", input_shapes={"image": [1, 16, 16, 3]}).path


def _mediapipe(model: Path, pixels: np.ndarray, tmp_path: Path) -> dict:
    np.save(tmp_path / "pixels.npy", pixels)
    (tmp_path / "classify.py").write_text(CLASSIFY)
    proc = subprocess.run([str(mediapipe_python()), str(tmp_path / "classify.py"), str(model), str(tmp_path / "pixels.npy")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mediapipe_image_classifier_and_embedder_run_a_file_litesig_wrote(classifier, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    out = tmp_path / "classifier_mp.tflite"
    assert main(["metadata", str(classifier), "-o", str(out), "--labels", str(labels), "--mean", "127.5", "--std", "127.5",
                 "--name", "tiny classifier", "--author", "litesig tests", "--license", "Apache-2.0"]) == 0
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    got = _mediapipe(out, pixels, tmp_path)
    want = litesig.run(out, {"image": ((pixels.astype(np.float32) - 127.5) / 127.5)[None]})["probs"][0]
    assert sorted(c[0] for c in got["categories"]) == list(range(5))
    for index, name, score in got["categories"]:
        assert name == LABELS[index]
        assert abs(score - float(want[index])) < 1e-6, (name, score, want[index])
    np.testing.assert_allclose(got["embedding"], want, atol=1e-6)  # the embedder reads the same metadata


def test_metadata_keeps_signatures_weights_and_outputs(classifier, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    out = tmp_path / "m.tflite"
    assert main(["metadata", str(classifier), "-o", str(out), "--labels", str(labels), "--mean", "0", "--std", "255",
                 "--name", "tiny", "--description", "five animals", "--json"]) == 0
    before, after = fb.read_model(classifier), fb.read_model(out)
    assert [s.key for s in after.signatures] == [s.key for s in before.signatures] == ["classify"]
    assert litesig.Runner(out).input_details().keys() == litesig.Runner(classifier).input_details().keys()
    old, new = classifier.read_bytes(), out.read_bytes()
    weights = [bytes(old[b.data_pos:b.data_pos + b.data_size]) for b in before.buffers if b.data_size]
    assert all(w in new for w in weights)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    assert np.array_equal(litesig.run(out, {"image": x})["probs"], litesig.run(classifier, {"image": x})["probs"])
    info = litesig.inspect(out)
    assert info.model_name == "tiny" and info.model_description == "five animals" and "TFLITE_METADATA" in info.metadata
    with zipfile.ZipFile(out) as zf:
        assert zf.read("labels.txt").decode().split() == LABELS
    assert not [f for f in info.app_runtimes if f.runtime == "mediapipe" and not f.runs]
    # rename keeps metadata and labels
    renamed = tmp_path / "r.tflite"
    litesig.rename(out, renamed, signatures={"classify": "animals"})
    with zipfile.ZipFile(renamed) as zf:
        assert zf.read("labels.txt").decode().split() == LABELS
    assert litesig.inspect(renamed).model_name == "tiny"


def test_bad_metadata_is_refused_with_the_numbers_and_nothing_written(classifier, converted, tmp_path, capsys):
    labels = tmp_path / "three.txt"
    labels.write_text("a\nb\nc\n")
    out = tmp_path / "never.tflite"
    cases = [
        (["metadata", str(classifier), "-o", str(out), "--labels", str(labels), "--mean", "127.5", "--std", "127.5"],
         "3 labels for 5 classes"),
        (["metadata", str(classifier), "-o", str(out), "--mean", "1,2", "--std", "127.5"], "2 values for 3 channels"),
        (["metadata", str(classifier), "-o", str(out)], "MediaPipe Tasks require its normalization"),
        (["metadata", str(classifier), "-o", str(out), "--mean", "0", "--std", "0"], "every std must be non-zero"),
        (["metadata", str(classifier), "-o", str(out), "--mean", "x", "--std", "1"], "expected numbers"),
        (["metadata", str(converted["seed"]), "-o", str(out), "--mean", "0", "--std", "1"], "not an image"),
        (["metadata", str(converted["coder"]), "-o", str(out), "--mean", "0", "--std", "1"], "2 subgraphs"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = " ".join(capsys.readouterr().err.split())
        assert message in err, (message, err)
        assert "Traceback" not in err and not out.exists()


def test_inspect_predicts_mediapipes_refusal_of_a_float_input_without_normalization(classifier, tmp_path):
    """Metadata without NormalizationOptions (as other writers can leave it): inspect says MediaPipe will refuse the
    float input, and MediaPipe's ImageClassifier does."""
    from litesig.tflite.metadata import ModelMetadata, _metadata_flatbuffer, _with_metadata

    parsed = fb.read_model(classifier)
    sg = parsed.subgraphs[0]
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_with_metadata(classifier.read_bytes(), _metadata_flatbuffer(ModelMetadata(name="bare"), sg,
                                                                                   sg.tensors[sg.inputs[0]].shape)))
    (fit,) = [f for f in litesig.inspect(bare).app_runtimes if f.runtime == "mediapipe"]
    assert not fit.runs and "without normalization" in fit.why[0]
    np.save(tmp_path / "pixels.npy", np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "classify.py").write_text(CLASSIFY)
    proc = subprocess.run([str(mediapipe_python()), str(tmp_path / "classify.py"), str(bare), str(tmp_path / "pixels.npy")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "NormalizationOptions" in proc.stderr, proc.stderr[-1500:]


def test_a_spec_metadata_table_is_written_by_convert_and_read_by_mediapipe(classifier, tmp_path):
    """[signatures.NAME.metadata] in a spec: convert proves the file, then writes it with the metadata and labels."""
    keras_file = classifier.parent / "classifier.keras"
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    spec = tmp_path / "litesig.toml"
    spec.write_text(f'[models.m]\npath = "{keras_file}"\n'
                    '[signatures.classify.inputs]\nimage = { shape = [1, 16, 16, 3] }\n'
                    '[signatures.classify.outputs]\nprobs = "m"\n'
                    '[signatures.classify.metadata]\nname = "from a spec"\nmean = 127.5\nstd = [127.5, 127.5, 127.5]\n'
                    'labels = "labels.txt"\n')
    out = litesig.convert(spec, tmp_path / "spec_mp.tflite").path
    assert litesig.inspect(out).model_name == "from a spec"
    pixels = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    got = _mediapipe(out, pixels, tmp_path)
    want = litesig.run(out, {"image": ((pixels.astype(np.float32) - 127.5) / 127.5)[None]})["probs"][0]
    for index, name, score in got["categories"]:
        assert name == LABELS[index] and abs(score - float(want[index])) < 1e-6


def test_spec_metadata_mistakes_are_refused_before_tensorflow(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"")
    base = '[models.m]\npath = "m.keras"\n[signatures.s.inputs]\nx = {}\n[signatures.s.outputs]\ny = "m"\n'
    cases = {'[signatures.s.metadata]\nmean = "a"\n': "expected a number or a list of numbers",
             '[signatures.s.metadata]\nlabels = "nope.txt"\n': "cannot read it",
             '[signatures.s.metadata]\ncolor_space = "cmyk"\n': "expected one of rgb, grayscale",
             '[signatures.s.metadata]\nauthor = 3\n': "expected a string",
             '[signatures.s.metadata]\nmean = 1\n[signatures.t.inputs]\nx = {}\n[signatures.t.outputs]\ny = "m"\n':
                 "MediaPipe Tasks, which run a file of one signature"}
    for extra, message in cases.items():
        (tmp_path / "s.toml").write_text(base + extra)
        with pytest.raises(litesig.InvalidInput, match=message):
            litesig.convert(tmp_path / "s.toml", tmp_path / "never.tflite")
        assert not (tmp_path / "never.tflite").exists()
