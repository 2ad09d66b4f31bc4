"""litesig batch: a manifest of jobs in worker processes, each the same as its single convert, incremental."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import litesig
from litesig.cli.main import main


def _zoo(models_dir, tmp_path):
    """A manifest beside copies of the sources: the seed spec, a Keras model with flags, and a job that fails."""
    for name in ("model_a.keras", "model_b.keras", "litesig.toml", "listed.keras"):
        shutil.copy(models_dir / name, tmp_path / name)
    (tmp_path / "zoo.toml").write_text(
        '[[job]]\nspec = "litesig.toml"\noutput = "out/seed.tflite"\n\n'
        '[[job]]\nmodel = "listed.keras"\noutput = "out/listed_f16.tflite"\nargs = ["--signature", "embed", "--optimize", "float16"]\n\n'
        '[[job]]\nname = "broken"\nmodel = "missing.keras"\noutput = "out/missing.tflite"\n')
    return tmp_path / "zoo.toml"


def test_batch_runs_jobs_like_single_converts_and_skips_what_did_not_change(models_dir, tmp_path, capsys):
    manifest = _zoo(models_dir, tmp_path)
    junit = tmp_path / "report.xml"
    assert main(["batch", str(manifest), "--jobs", "2", "--junit", str(junit), "--json"]) == 1  # one job fails, not the batch
    report = json.loads(capsys.readouterr().out)
    status = {j["name"]: j["status"] for j in report["jobs"]}
    assert status == {"seed": "converted", "listed_f16": "converted", "broken": "failed"}
    broken = next(j for j in report["jobs"] if j["name"] == "broken")
    assert broken["exit_code"] == 2 and "missing.keras" in broken["message"]
    assert not (tmp_path / "out" / "missing.tflite").exists()
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")

    # The same bytes as the single commands.
    single = tmp_path / "single"
    litesig.convert(tmp_path / "litesig.toml", single / "seed.tflite")
    litesig.convert(tmp_path / "listed.keras", single / "listed_f16.tflite", signature="embed", optimize="float16")
    for name in ("seed.tflite", "listed_f16.tflite"):
        assert (tmp_path / "out" / name).read_bytes() == (single / name).read_bytes(), name

    # Nothing changed: both skipped; a deleted output and a changed source are redone, nothing else.
    assert main(["batch", str(manifest), "--json"]) == 1
    assert {j["name"]: j["status"] for j in json.loads(capsys.readouterr().out)["jobs"]} == {
        "seed": "skipped", "listed_f16": "skipped", "broken": "failed"}
    before = (tmp_path / "out" / "listed_f16.tflite").read_bytes()
    (tmp_path / "out" / "seed.tflite").unlink()
    shutil.copy(models_dir / "model_a.keras", tmp_path / "listed.keras")  # other bytes under the same name
    assert main(["batch", str(manifest), "--json"]) == 1
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert {j["name"]: j["status"] for j in jobs} == {"seed": "converted", "listed_f16": "converted", "broken": "failed"}
    assert (tmp_path / "out" / "listed_f16.tflite").read_bytes() != before


def test_manifest_mistakes_are_listed_at_once_and_nothing_runs(tmp_path, capsys):
    (tmp_path / "m.toml").write_text(
        '[[job]]\nspec = "a.toml"\nmodel = "b.keras"\noutput = "x.tflite"\n\n'
        '[[job]]\nmodel = "b.keras"\noutput = "same.tflite"\nargs = ["--force"]\n\n'
        '[[job]]\nmodel = "c.keras"\noutput = "same.tflite"\nextra = 1\n')
    assert main(["batch", str(tmp_path / "m.toml")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    for message in ("exactly one of spec", "are the batch's to set", "also job[1]'s output", "job[2].extra: unknown key"):
        assert message in err, (message, err)
    assert not (tmp_path / ".litesig-batch.json").exists()
    (tmp_path / "empty.toml").write_text("")
    assert main(["batch", str(tmp_path / "empty.toml")]) == 2
    assert "no [[job]] entries" in capsys.readouterr().err


def test_batch_on_a_local_ray_instance_gives_the_same_files(models_dir, tmp_path, capsys):
    """--ray: the same jobs as Ray tasks on a real local Ray instance (ray.init here, never mocked)."""
    manifest = _zoo(models_dir, tmp_path)
    assert main(["batch", str(manifest), "--ray", "--jobs", "2", "--json"]) == 1
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert {j["name"]: j["status"] for j in jobs} == {"seed": "converted", "listed_f16": "converted", "broken": "failed"}
    single = tmp_path / "single"
    litesig.convert(tmp_path / "litesig.toml", single / "seed.tflite")
    litesig.convert(tmp_path / "listed.keras", single / "listed_f16.tflite", signature="embed", optimize="float16")
    for name in ("seed.tflite", "listed_f16.tflite"):
        assert (tmp_path / "out" / name).read_bytes() == (single / name).read_bytes(), name
    import ray

    assert not ray.is_initialized()  # the batch shut its instance down


def test_names_and_messages_from_a_manifest_reach_the_terminal_escaped(tmp_path, capsys):
    """A job's name and its failure message (which names the manifest's paths) go through the one terminal escaper."""
    (tmp_path / "zoo.toml").write_text('[[job]]\nname = "evil\\u001b[2J"\nmodel = "missing\\u001b]8;;http://x\\u0007.keras"\n'
                                       'output = "out/\\u202egnp.tflite"\n')
    assert main(["batch", str(tmp_path / "zoo.toml"), "--jobs", "1"]) == 1
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown, shown
    assert "evil\\x1b[2J" in shown and "FAIL: 0 converted, 0 unchanged, 1 failed" in shown
