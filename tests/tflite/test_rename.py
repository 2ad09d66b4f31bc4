"""rename: names change, nothing else does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import litesig
from litesig.tflite import flatbuffer as fb
from litesig.cli.main import main
from litesig.errors import InvalidInput, NotATFLiteModel, OutputExists
from litesig.runtimes.inputs import sample_inputs

from .._external import externalize

ALL_MODES = ["seed", "seed_f16", "seed_dyn", "seed_int8", "coder", "multi"]


@pytest.fixture(scope="module")
def files(converted, models_dir, tmp_path_factory):
    out = dict(converted)
    d = tmp_path_factory.mktemp("rename_src")
    out["seed_dyn"] = litesig.convert(models_dir / "litesig.toml", d / "seed_dyn.tflite", optimize="dynamic-int8").path
    externalize(converted["seed"], d / "external.tflite")
    out["external"] = d / "external.tflite"
    return out


def rename_everything(path):
    """A rename of every signature, input and output in the file."""
    m = fb.read_model(path)
    signatures = {s.key: f"{s.key}_v2" for s in m.signatures}
    inputs = {(s.key, tm.name): f"in_{i}" for s in m.signatures for i, tm in enumerate(s.inputs)}
    outputs = {(s.key, tm.name): f"out_{i}" for s in m.signatures for i, tm in enumerate(s.outputs)}
    return signatures, inputs, outputs


def outputs_by_position(path, seed=0):
    """Run every signature on seeded inputs; results keyed by (signature position, output position)."""
    it = Interpreter(model_path=str(path))
    m = fb.read_model(path)
    rng = np.random.default_rng(seed)
    results = {}
    for si, s in enumerate(m.signatures):
        runner = it.get_signature_runner(s.key)
        details = litesig.Runner(path).input_details(s.key)
        feed = sample_inputs(details, batch=2, dynamic=4, rng=rng)
        names = [tm.name for tm in s.inputs]
        out = runner(**{n: feed[n] for n in names})
        for oi, tm in enumerate(s.outputs):
            results[(si, oi)] = out[tm.name]
    return results


@pytest.mark.parametrize("name", ALL_MODES + ["external"])
def test_renamed_files_compute_bit_identical_outputs(files, name, tmp_path):
    src = files[name]
    signatures, inputs, outputs = rename_everything(src)
    result = litesig.rename(src, tmp_path / "r.tflite", signatures=signatures, inputs=inputs, outputs=outputs)
    listed = Interpreter(model_path=str(result.path)).get_signature_list()
    assert set(listed) == set(signatures.values())
    for sig in listed.values():
        assert all(n.startswith("in_") for n in sig["inputs"]) and all(n.startswith("out_") for n in sig["outputs"])
    before, after = outputs_by_position(src), outputs_by_position(result.path)
    assert before.keys() == after.keys()
    for key in before:
        assert np.array_equal(before[key], after[key]), key


@pytest.mark.parametrize("name", ALL_MODES)
def test_everything_but_the_names_is_byte_identical(files, name, tmp_path):
    src = files[name]
    signatures, inputs, outputs = rename_everything(src)
    result = litesig.rename(src, tmp_path / "r.tflite", signatures=signatures, inputs=inputs, outputs=outputs, tensor_names=True)
    out = result.path
    old, new = src.read_bytes(), out.read_bytes()
    assert new[: len(old)] != old and len(new) > len(old)
    assert len(new) == result.size_bytes == out.stat().st_size
    ends = []  # where each new string ends: the file ends with the last of them (blocks are reserved, none left over)
    renamed = fb.read_model(out)
    for s in renamed.signatures:
        maps = (*s.inputs, *s.outputs)
        tensors = (renamed.subgraphs[s.subgraph_index].tensors[tm.tensor_index].name_field for tm in maps)
        for pos in (s.key_field, *(tm.name_field for tm in maps), *tensors):
            at = pos + int.from_bytes(new[pos:pos + 4], "little")
            ends.append(at + 4 + int.from_bytes(new[at:at + 4], "little") + 1)
    assert 0 <= len(new) - max(ends) < 4
    changed = [i for i in range(len(old)) if old[i] != new[i]]
    m = fb.read_model(src)
    fields = {s.key_field for s in m.signatures} | {tm.name_field for s in m.signatures for tm in (*s.inputs, *s.outputs)}
    fields |= {m.subgraphs[s.subgraph_index].tensors[tm.tensor_index].name_field for s in m.signatures for tm in (*s.inputs, *s.outputs)}
    assert all(any(f <= i < f + 4 for f in fields) for i in changed)  # only offset fields changed
    a, b = fb.read_model(src), fb.read_model(out)
    assert [bf.data_pos for bf in a.buffers] == [bf.data_pos for bf in b.buffers]  # weights where they were
    assert a.operator_codes == b.operator_codes and [sg.operators for sg in a.subgraphs] == [sg.operators for sg in b.subgraphs]
    assert [md.name for md in a.metadata] == [md.name for md in b.metadata]


def test_tensor_names_follow_when_asked(files, tmp_path):
    out = litesig.rename(files["seed"], tmp_path / "r.tflite", signatures={"sample_method_name": "classify"},
                         inputs={("classify", "x_input"): "image"}, tensor_names=True).path
    details = Interpreter(model_path=str(out)).get_signature_runner("classify").get_input_details()
    assert details["image"]["name"] == "classify_image:0"
    plain = litesig.rename(files["seed"], tmp_path / "p.tflite", inputs={(None, "x_input"): "image"}).path
    assert Interpreter(model_path=str(plain)).get_signature_runner().get_input_details()["image"]["name"] == "sample_method_name_x_input:0"


def test_errors_list_what_exists_and_write_nothing(files, tmp_path):
    out = tmp_path / "r.tflite"
    with pytest.raises(InvalidInput) as e:
        litesig.rename(files["coder"], out, signatures={"encoder": "e", "decode": "encode"},
                       inputs={("encode", "nope"): "x2", ("decode", "code"): "bad name"}, outputs={(None, "code"): "c"})
    text = str(e.value)
    assert "no signature 'encoder'; the model has: decode, encode" in text
    assert "two signatures would both be called 'encode'" in text
    assert "signature 'encode' has no input 'nope'; its inputs are: x" in text
    assert "invalid name 'bad name'" in text
    assert "say which signature (SIG:code=c); the model has: decode, encode" in text
    assert not out.exists()


def test_duplicate_input_and_output_names_are_refused(files, tmp_path):
    with pytest.raises(InvalidInput, match="would have two inputs called 'mask'"):
        litesig.rename(files["multi"], tmp_path / "r.tflite", inputs={(None, "image"): "mask"})
    with pytest.raises(InvalidInput, match="would be both an input and an output"):
        litesig.rename(files["multi"], tmp_path / "r.tflite", outputs={(None, "probs"): "image"})


def test_not_a_model_and_overwrite_rules(files, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(NotATFLiteModel):
        litesig.rename(junk, tmp_path / "o.tflite", signatures={"a": "b"})
    existing = tmp_path / "exists.tflite"
    existing.write_bytes(b"x")
    with pytest.raises(OutputExists):
        litesig.rename(files["seed"], existing, signatures={"sample_method_name": "s"})
    with pytest.raises(InvalidInput, match="not both or neither"):
        litesig.rename(files["seed"], existing, signatures={"sample_method_name": "s"}, in_place=True)


def test_in_place(files, tmp_path):
    copy = tmp_path / "m.tflite"
    copy.write_bytes(files["seed"].read_bytes())
    litesig.rename(copy, signatures={"sample_method_name": "classify"}, in_place=True)
    assert list(Interpreter(model_path=str(copy)).get_signature_list()) == ["classify"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]  # no temporary left behind


def test_cli_flags_and_map(files, tmp_path, capsys):
    out = tmp_path / "r.tflite"
    assert main(["rename", str(files["multi"]), "-o", str(out), "--signature", "detect=find",
                 "--input-name", "find:image=pixels", "--output-name", "find:probs=scores", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["signatures"]["find"]["inputs"] == ["pixels", "mask"] or set(doc["signatures"]["find"]["inputs"]) == {"pixels", "mask"}
    names = tmp_path / "names.toml"
    names.write_text('[signatures.detect]\nname = "find"\ninputs = { image = "pixels" }\noutputs = { box = "boxes" }\n')
    assert main(["rename", str(files["multi"]), "-o", str(tmp_path / "m.tflite"), "--map", str(names)]) == 0
    listed = Interpreter(model_path=str(tmp_path / "m.tflite")).get_signature_list()
    assert listed == {"find": {"inputs": ["mask", "pixels"], "outputs": ["boxes", "probs"]}}
    # The old spelling still renames an output (-o/--output is the file written everywhere else), with a note.
    assert main(["rename", str(files["multi"]), "-o", str(tmp_path / "old.tflite"), "--output", "detect:probs=scores", "--input", "detect:image=px"]) == 0
    assert "is now --output-name" in capsys.readouterr().err
    assert Interpreter(model_path=str(tmp_path / "old.tflite")).get_signature_list()["detect"]["outputs"] == ["box", "scores"]


def test_cli_errors_exit_2(files, tmp_path, capsys):
    assert main(["rename", str(files["seed"]), "-o", str(tmp_path / "r.tflite"), "--input", "x_input"]) == 2
    assert "expected [SIG:]OLD=NEW" in capsys.readouterr().err
    assert main(["rename", str(files["seed"]), "-o", str(tmp_path / "r.tflite")]) == 2
    assert "nothing to rename" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[signatures.x]\ncolour = "red"\n')
    assert main(["rename", str(files["seed"]), "-o", str(tmp_path / "r.tflite"), "--map", str(bad)]) == 2
    assert not (tmp_path / "r.tflite").exists()


def test_add_signature_to_a_file_without_one(files, tmp_path, capsys):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(files["multi"]))
    model.signatureDefs = []
    flatbuffer_utils.write_model(model, str(tmp_path / "nosig.tflite"))
    main_inputs = [fb.read_model(tmp_path / "nosig.tflite").subgraphs[0].tensors[t].name for t in fb.read_model(tmp_path / "nosig.tflite").subgraphs[0].inputs]
    assert len(main_inputs) == 2
    assert main(["rename", str(tmp_path / "nosig.tflite"), "-o", str(tmp_path / "s.tflite"), "--add-signature", "detect",
                 "--inputs", "a,b", "--outputs", "o1,o2"]) == 0
    listed = Interpreter(model_path=str(tmp_path / "s.tflite")).get_signature_list()
    assert listed == {"detect": {"inputs": ["a", "b"], "outputs": ["o1", "o2"]}}
    out = litesig.run(tmp_path / "s.tflite", {"a": np.ones((1, 6), np.float32) if "image" in main_inputs[0] else np.ones((1, 2), np.float32),
                                             "b": np.ones((1, 2), np.float32) if "image" in main_inputs[0] else np.ones((1, 6), np.float32)})
    assert set(out) == {"o1", "o2"}
    capsys.readouterr()
    assert main(["rename", str(files["multi"]), "-o", str(tmp_path / "t.tflite"), "--add-signature", "x", "--inputs", "a,b", "--outputs", "c,d"]) == 2
    assert "already has signatures" in capsys.readouterr().err
    assert main(["rename", str(tmp_path / "nosig.tflite"), "-o", str(tmp_path / "u.tflite"), "--add-signature", "x", "--inputs", "a", "--outputs", "c,d"]) == 2
    assert "1 names for 2 tensors" in capsys.readouterr().err


def test_unknown_names_suggest_the_near_one(converted, tmp_path, capsys):
    from litesig.cli.main import main

    argv = ["rename", str(converted["seed"]), "-o", str(tmp_path / "r.tflite"), "--signature", "sample_method_nam=x",
            "--input", "sample_method_name:x_inptu=image"]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(did you mean 'sample_method_name'?)" in err and "(did you mean 'x_input'?)" in err
    assert not (tmp_path / "r.tflite").exists()
