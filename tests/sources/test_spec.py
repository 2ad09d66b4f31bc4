"""The spec parser: every problem found at once, each with its key path."""

from __future__ import annotations

import pytest

from litesig.errors import InvalidInput
from litesig.sources.spec import ConvertOptions, load_spec, parse_output_ref, spec_from_dict


def problems(data, base=".") -> list[str]:
    with pytest.raises(InvalidInput) as e:
        spec_from_dict(data, base_dir=base, source="t.toml")
    return [str(p) for p in e.value.problems]


@pytest.fixture
def model_file(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"")
    return tmp_path


def good(**convert):
    return {
        "models": {"a": {"path": "m.keras"}},
        "signatures": {"run": {"inputs": {"x": {"dtype": "float32", "shape": [-1, 3]}}, "outputs": {"y": "a"}}},
        **({"convert": convert} if convert else {}),
    }


def test_a_good_spec(model_file):
    spec = spec_from_dict(good(optimize="float16"), base_dir=model_file)
    assert spec.models["a"].path == model_file / "m.keras"
    assert spec.signatures[0].inputs[0].shape == (-1, 3)
    assert spec.options.optimize == "float16"


def test_every_problem_is_listed_with_its_key_path(model_file):
    data = {
        "models": {"a": {"path": "missing.keras"}, "b": {"path": "m.keras", "colour": 1}},
        "signatures": {
            "bad name": {
                "inputs": {"x/1": {"dtype": "complex", "shape": [0, 3]}},
                "outputs": {"y": "nope", "z": "a.out[", "x/1": "a"},
            }
        },
        "convert": {"optimize": "int4", "select_tf_ops": "yes"},
        "extra": {},
    }
    found = problems(data, model_file)
    expected = [
        "extra: unknown key",
        "models.a.path: no such file or directory",
        "models.b.colour: unknown key",
        "signatures.bad name: invalid name 'bad name'",
        "signatures.bad name.inputs.x/1: invalid name 'x/1'",
        "signatures.bad name.inputs.x/1.dtype: unknown dtype 'complex'",
        "signatures.bad name.inputs.x/1.shape: expected a list of positive ints",
        "signatures.bad name.outputs.y: unknown model 'nope'; the spec's models are: a, b",
        "signatures.bad name.outputs.z: cannot read 'a.out['",
        "convert.optimize: unknown mode 'int4'",
        "convert.select_tf_ops: expected true or false, got 'yes'",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)


def test_int8_needs_calibration(model_file):
    assert any("convert.calibration: optimize = \"int8\" needs calibration data" in p for p in problems(good(optimize="int8"), model_file))


def test_calibration_file_must_exist(model_file):
    assert any("convert.calibration: no such file" in p for p in problems(good(optimize="int8", calibration="c.npz"), model_file))


def test_empty_spec():
    assert problems({}) == [
        "models: expected at least one [models.<key>] table with a path",
        "signatures: expected at least one [signatures.<name>.inputs] and [signatures.<name>.outputs]",
    ]


@pytest.mark.parametrize("text, ref", [("a", ("a", None)), ("c.probs", ("c", "probs")), ("c[1]", ("c", 1)), ("c[x]", None), ("", None)])
def test_output_refs(text, ref):
    assert parse_output_ref(text) == ref


def test_load_spec_reports_toml_errors_and_missing_files(tmp_path):
    (tmp_path / "bad.toml").write_text("[models.a\npath = 1")
    with pytest.raises(InvalidInput, match="bad.toml: 1 problem\n  - not valid TOML"):
        load_spec(tmp_path / "bad.toml")
    with pytest.raises(InvalidInput, match="no such file"):
        load_spec(tmp_path / "none.toml")


def test_duplicate_toml_keys_are_a_toml_error(tmp_path):
    (tmp_path / "dup.toml").write_text('[signatures.s.outputs]\ny = "a"\ny = "b"\n')
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_spec(tmp_path / "dup.toml")


def test_relative_paths_are_relative_to_the_spec(tmp_path, model_file):
    (model_file / "litesig.toml").write_text('[models.a]\npath = "m.keras"\n[signatures.s.inputs]\nx = {}\n[signatures.s.outputs]\ny = "a"\n')
    assert load_spec(model_file / "litesig.toml").models["a"].path == model_file / "m.keras"


def test_options_problems_without_a_spec():
    assert [p.where for p in ConvertOptions(optimize="fast").problems()] == ["convert.optimize"]
