"""merge: one file with every signature, each bit-identical to its source; shared weights stored once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.tflite import flatbuffer as fb
from litesig.cli.main import main
from litesig.verification.merged import merge

from .._packed import LABELS, pack, read_files


@pytest.fixture(scope="module")
def three(converted, models_dir, keras, tmp_path_factory):
    """Three files made by different paths: litesig convert, Keras model.export, a packed file with metadata and labels."""
    d = tmp_path_factory.mktemp("merge_src")
    keras.models.load_model(models_dir / "multi.keras").export(str(d / "exported.tflite"), format="litert", verbose=False)
    pack(converted["coder"], d / "packed.tflite")
    pack(converted["multi"], d / "legacy.tflite", drop_signatures=True, files={"labels.txt": b"x\ny\n"})
    return {"converted": converted["seed"], "exported": d / "exported.tflite", "packed": d / "packed.tflite", "legacy": d / "legacy.tflite"}


def outputs(path, signature, feed):
    return Interpreter(model_path=str(path)).get_signature_runner(signature)(**feed)


def test_three_files_by_three_paths(three, tmp_path):
    srcs = [three["converted"], three["exported"], three["packed"]]
    result = merge(srcs, tmp_path / "m.tflite", renames={("exported", "serving_default"): "detect"}, metadata_from=2)
    merged = fb.read_model(result.path)
    packed_keys = [s.key for s in fb.read_model(srcs[2]).signatures]
    assert sorted(packed_keys) == ["decode", "encode"]
    assert [s.key for s in merged.signatures] == ["sample_method_name", "detect", *packed_keys]  # inputs' order, each file's own
    assert all(c.identical and c.sizes for c in result.checks) and len(result.checks) == 4
    # independently of merge's own check: same seeded inputs, bit-identical outputs
    origin = {"sample_method_name": (srcs[0], "sample_method_name"), "detect": (srcs[1], "serving_default"),
              "encode": (srcs[2], "encode"), "decode": (srcs[2], "decode")}
    for key, (src, sig) in origin.items():
        details = litesig.Runner(result.path).input_details(key)
        feed = {n: np.random.default_rng(3).uniform(-1, 1, [2 if s == -1 else s for s in d.shape_signature]).astype(d.dtype)
                for n, d in details.items()}
        a, b = outputs(result.path, key, feed), outputs(src, sig, feed)
        assert a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a), key
    assert read_files(result.path) == LABELS and result.associated_files == list(LABELS)
    assert {m.name for m in merged.metadata} >= {"TFLITE_METADATA", "min_runtime_version"}
    assert all(m.buffer < len(merged.buffers) for m in merged.metadata)
    assert all(b.data_pos % 16 == 0 for b in merged.buffers if b.data_size)
    assert result.size_bytes == result.path.stat().st_size <= result.inputs_bytes - result.bytes_saved


def test_identical_weights_are_stored_once_and_a_file_without_signatures_joins(three, tmp_path):
    result = merge([three["exported"], three["legacy"]], tmp_path / "m.tflite",
                   renames={("legacy", None): "classify"}, metadata_from=1)
    assert result.shared_buffers >= 2 and result.bytes_saved >= 4 * (6 + 2) * 7  # both Dense kernels: same model, same weights
    assert result.size_bytes <= result.inputs_bytes - result.bytes_saved
    assert result.signatures["classify"]["source_signature"] is None
    assert all(c.identical for c in result.checks)
    assert read_files(result.path) == {"labels.txt": b"x\ny\n"}


def test_clashes_and_unnamed_files_are_refused_and_nothing_written(three, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["merge", str(three["converted"]), str(three["converted"]), "-o", str(out)]) == 2
    assert "two signatures would be called 'sample_method_name'" in capsys.readouterr().err
    assert main(["merge", str(three["exported"]), str(three["legacy"]), "-o", str(out)]) == 2
    assert "has no signatures: name its main subgraph with --signature legacy=NAME" in capsys.readouterr().err
    assert main(["merge", str(three["exported"]), str(three["legacy"]), "-o", str(out), "--signature", "exported:nope=x",
                 "--signature", "ghost=y"]) == 2
    err = capsys.readouterr().err
    assert "has no signature 'nope'" in err and "no input 'ghost'" in err
    assert not out.exists()


def test_cli_flags_map_and_json(three, tmp_path, capsys):
    names = tmp_path / "merge.toml"
    names.write_text('[models.exported]\nsignatures = { serving_default = "detect" }\n[models.legacy]\nmain = "classify"\n')
    assert main(["merge", str(three["exported"]), str(three["legacy"]), "-o", str(tmp_path / "m.tflite"), "--map", str(names), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["signatures"]) == ["detect", "classify"] and all(c["identical"] for c in data["checks"])
    assert main(["merge", str(three["exported"]), str(three["legacy"]), "-o", str(tmp_path / "m.tflite"),
                 "--signature", "1:serving_default=detect", "--signature", "legacy=classify"]) == 2  # exists: no --force
    assert main(["merge", str(three["exported"]), str(three["legacy"]), "-o", str(tmp_path / "m.tflite"), "-f",
                 "--signature", "1:serving_default=detect", "--signature", "legacy=classify"]) == 0
    assert "bit-identical" in capsys.readouterr().out


def test_merged_file_is_bit_identical_to_its_sources_on_tflite_runtime_2_14(three, tmp_path):
    """The app's side: the merged file and each source, run by signature on tflite-runtime 2.14."""
    from litesig.runtimes.legacy import RuntimeUnavailable, ensure_runtime, run_legacy

    try:
        python = ensure_runtime("tflite-runtime==2.14.0")
    except RuntimeUnavailable as e:
        pytest.fail(f"the tflite-runtime 2.14 environment could not be made, so nothing was proven on it:\n{e}")
    srcs = [three["converted"], three["exported"], three["packed"]]
    result = merge(srcs, tmp_path / "m.tflite", renames={("exported", "serving_default"): "detect"}, metadata_from=2)
    origin = {"sample_method_name": (srcs[0], "sample_method_name"), "detect": (srcs[1], "serving_default"),
              "encode": (srcs[2], "encode"), "decode": (srcs[2], "decode")}
    feeds = {}
    for key in origin:
        details = litesig.Runner(result.path).input_details(key)
        feeds[key] = {n: np.random.default_rng(5).uniform(-1, 1, [2 if s == -1 else s for s in d.shape_signature]).astype(d.dtype)
                      for n, d in details.items()}
    merged = run_legacy(python, result.path, feeds)
    assert merged.loaded, merged.error
    worst = {}
    for key, (src, sig) in origin.items():
        alone = run_legacy(python, src, {sig: feeds[key]})
        assert alone.loaded, alone.error
        a, b = merged.outputs[key], alone.outputs[sig]
        assert a.keys() == b.keys()
        worst[key] = max(float(np.max(np.abs(a[n] - b[n]))) for n in a)
    # Measured: the signature that stays in subgraph 0 is bit-identical; the ones that moved to other
    # subgraphs differ by at most 6e-8 on 2.14 (on ai-edge-litert every one is bit-identical).
    assert worst["sample_method_name"] == 0.0, worst
    assert max(worst.values()) < 1e-6, worst


def test_signature_names_are_planned_in_linear_time():
    """merge grouped names with a list scan per name: 27,000 signatures took 47 s there, 100,000 did not finish in
    300 s. Planning 100,000 signatures (one of them clashing) now takes well under a second."""
    import time
    from types import SimpleNamespace

    from litesig.tflite.merge import _signature_names

    keys = [SimpleNamespace(key=f"s{i}") for i in range(100_000)]
    empty = SimpleNamespace(subgraphs=[])
    big = SimpleNamespace(label="big", path="big.tflite", parsed=SimpleNamespace(signatures=keys), obj=empty)
    small = SimpleNamespace(label="small", path="small.tflite", parsed=SimpleNamespace(signatures=[SimpleNamespace(key="s7")]), obj=empty)
    start = time.perf_counter()
    with pytest.raises(litesig.InvalidInput, match=r"two signatures would be called 's7' \(big:s7, small:s7\)"):
        _signature_names([big, small], {})
    assert time.perf_counter() - start < 10
