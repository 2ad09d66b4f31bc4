"""verify follows edits: a renamed file against its original (by --map or by structure), a reference without signatures, --shape."""

from __future__ import annotations

import pytest

import litesig
from litesig.cli.main import main
from litesig.errors import InvalidInput

from .._packed import pack


@pytest.fixture(scope="module")
def renamed(converted, tmp_path_factory):
    d = tmp_path_factory.mktemp("verify_edits")
    out = litesig.rename(converted["multi"], d / "renamed.tflite", signatures={"detect": "find"},
                         inputs={("detect", "image"): "img"}, outputs={("detect", "box"): "bbox"}).path
    names = d / "names.toml"
    names.write_text('[signatures.detect]\nname = "find"\ninputs = { image = "img" }\noutputs = { box = "bbox" }\n')
    nosig = pack(converted["multi"], d / "nosig.tflite", drop_signatures=True)
    return {"original": converted["multi"], "renamed": out, "names": names, "nosig": nosig}


def test_renamed_file_against_its_original_by_map_and_by_structure(renamed, capsys):
    for extra in (["--map", str(renamed["names"])], []):
        assert main(["verify", str(renamed["renamed"]), "--against", str(renamed["original"]), "-q", *extra]) == 0
        assert "PASS" in capsys.readouterr().out
    report = litesig.verify(renamed["renamed"], renamed["original"], names=renamed["names"])
    assert report.passed and {o.name for c in report.cases for o in c.outputs} == {"bbox", "probs"}


def test_a_file_without_signatures_as_reference(renamed):
    report = litesig.verify(renamed["renamed"], renamed["nosig"])
    assert report.passed and all(o.max_abs == 0 for c in report.cases for o in c.outputs)


def test_structure_mismatch_and_shapes(renamed, converted, capsys):
    assert main(["verify", str(renamed["renamed"]), "--against", str(converted["seed"])]) == 2
    assert "cannot pair the inputs" in capsys.readouterr().err
    report = litesig.verify(renamed["renamed"], renamed["original"], shapes={"find/img": [5, 6], "mask": [5, 2]})
    assert report.passed and {c.input_shapes["img"] for c in report.cases} == {(5, 6)}
    with pytest.raises(InvalidInput, match="contradicts"):
        litesig.verify(renamed["renamed"], renamed["original"], shapes={"img": [5, 7]})
    with pytest.raises(InvalidInput, match="no such input"):
        litesig.verify(renamed["renamed"], renamed["original"], shapes={"nope": [1]})
