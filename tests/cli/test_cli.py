"""The CLI: argv -> library call -> rendering and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from litesig.cli.main import main


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "litesig convert litesig.toml -o build/model.tflite" in out and "--select-tf-ops" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "convert" in capsys.readouterr().out


def test_convert_json_then_inspect_json(seed_spec, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["convert", str(seed_spec("float16")), "-o", str(out), "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["signatures"] == {"sample_method_name": {"inputs": ["x_input"], "outputs": ["my_output_a", "my_output_b"]}}
    assert doc["verification"]["passed"] is True and doc["size_bytes"] == out.stat().st_size
    assert main(["inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["signatures"]["sample_method_name"]["inputs"]["x_input"]["shape"] == [-1, 128, 3]


def test_convert_refuses_to_overwrite_and_exits_2(seed_spec, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"x")
    assert main(["convert", str(seed_spec()), "-o", str(out), "-q"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"x"


def test_bad_spec_exits_2_with_every_problem_and_no_traceback(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[models.a]\npath = "nope.keras"\n[signatures.s.inputs]\nx = { dtype = "f32" }\n[signatures.s.outputs]\ny = "b"\n')
    assert main(["convert", str(spec), "-o", str(tmp_path / "o.tflite")]) == 2
    err = capsys.readouterr().err
    assert "models.a.path" in err and "signatures.s.inputs.x.dtype" in err and "signatures.s.outputs.y" in err
    assert "Traceback" not in err and not (tmp_path / "o.tflite").exists()


def test_bad_spec_json_lists_problems(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[convert]\noptimize = 1\n")
    assert main(["convert", str(spec), "-o", str(tmp_path / "o.tflite"), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"] == "InvalidInput" and {p["where"] for p in doc["problems"]} >= {"models", "signatures", "convert.optimize"}


def test_converter_refusal_exits_1(models_dir, tmp_path, capsys):
    assert main(["convert", str(models_dir / "stringer"), "-o", str(tmp_path / "s.tflite"), "-q"]) == 1
    assert "--select-tf-ops" in capsys.readouterr().err


def test_flag_form(models_dir, tmp_path, capsys):
    out = tmp_path / "l.tflite"
    assert main(["convert", str(models_dir / "listed.keras"), "-o", str(out), "--signature", "classify",
                 "--input-names", "feats", "--output-names", "p,q", "--optimize", "dynamic-int8"]) == 0
    shown = capsys.readouterr().out
    assert "wrote" in shown and "classify" in shown and "parity" in shown and "model.features <- feats" in shown


def test_flag_form_wrong_name_count(models_dir, tmp_path, capsys):
    assert main(["convert", str(models_dir / "listed.keras"), "-o", str(tmp_path / "l.tflite"), "--output-names", "only_one", "-q"]) == 2
    assert "--output-names: 1 names for 2 outputs (first, second, as the model declares them)" in capsys.readouterr().err


def test_inspect_a_non_model_exits_2(tmp_path, capsys):
    (tmp_path / "junk.tflite").write_bytes(b"hello world, not a model")
    assert main(["inspect", str(tmp_path / "junk.tflite")]) == 2
    assert "not a TFLite model" in capsys.readouterr().err


def test_demo(tmp_path, capsys, models_dir):
    assert main(["demo", str(tmp_path / "demo"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "{'sample_method_name': {'inputs': ['x_input'], 'outputs': ['my_output_a', 'my_output_b']}}" in out
    assert "shape_signature=[-1, 128, 3]" in out and "pass" in out
    assert main(["demo", str(tmp_path / "demo"), "-q"]) == 2  # not overwritten without --force


def test_python_m_litesig_and_inspect_never_imports_tensorflow(seed_spec, tmp_path):
    import litesig

    out = litesig.convert(seed_spec(), tmp_path / "m.tflite").path
    code = (
        "import sys\nfrom litesig.cli.main import main\n"
        f"rc = main(['inspect', {str(out)!r}, '--json'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'ai_edge_litert', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "litesig", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "litesig" in proc.stdout


def test_the_console_script_skips_the_teardown_but_nothing_else(seed_spec, tmp_path):
    """`litesig` ends with os._exit (saves ~0.7 s after TensorFlow, 10-20 ms otherwise): its output must still be
    whole, its exit code kept, its temporary folders removed, and its progress and error lines on stderr."""
    import os

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = tmp_path / "m.tflite"
    proc = subprocess.run([sys.executable, "-m", "litesig", "convert", str(seed_spec("float16")), "-o", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["verification"]["passed"]  # a pipe is block-buffered: flushed before the exit
    assert "Verifying the result" in proc.stderr
    assert list(temp.iterdir()) == []
    proc = subprocess.run([sys.executable, "-m", "litesig", "convert", str(tmp_path / "model_a.keras"), "-o", str(tmp_path / "a.tflite"),
                           "--output-names", "y1,y2"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "2 names for 1 outputs" in proc.stderr  # refused after TensorFlow loaded the model
    assert not (tmp_path / "a.tflite").exists() and list(temp.iterdir()) == []
    # Without TensorFlow: rename's lines (rich, imported on another thread during the copy) and an error's.
    renamed = tmp_path / "r.tflite"
    proc = subprocess.run([sys.executable, "-m", "litesig", "rename", str(out), "-o", str(renamed), "--signature", "sample_method_name=s"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1].startswith(f"wrote {renamed}"), proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-m", "litesig", "rename", str(out), "-o", str(tmp_path / "r2.tflite"), "--signature", "nope=s"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "no signature 'nope'" in proc.stderr, proc.stderr


def test_import_litesig_is_light():
    proc = subprocess.run([sys.executable, "-c", "import sys, litesig; print(sorted(m for m in ('tensorflow','numpy','rich') if m in sys.modules))"],
                          capture_output=True, text=True)
    assert proc.stdout.strip() == "[]"


def test_library_never_uses_the_deprecated_tf_lite_interpreter():
    from pathlib import Path

    import litesig

    src = Path(litesig.__file__).parent
    import re

    use = re.compile(r"lite\.Interpreter\s*\(|tensorflow\.lite\.python\.interpreter|from tensorflow\.lite import")
    offenders = [p.name for p in src.rglob("*.py") if use.search(p.read_text())]
    assert offenders == []


def test_runtime_import_is_cheap_enough_for_cli():
    # numpy is allowed for run/verify; the point is that runtime never pulls TensorFlow.
    proc = subprocess.run([sys.executable, "-c", "import sys, litesig.runtimes.interpreter; print('tensorflow' in sys.modules)"], capture_output=True, text=True)
    assert proc.stdout.strip() == "False"


@pytest.fixture(autouse=True)
def _np_seed():
    np.random.seed(0)


def test_every_public_name_resolves():
    import litesig

    assert sorted(litesig.__all__) == sorted(litesig._EXPORTS)
    for name in litesig.__all__:
        assert getattr(litesig, name) is not None
    assert callable(litesig.convert) and callable(litesig.verify) and callable(litesig.inspect) and callable(litesig.rename)


def test_convert_map_typo_suggests_the_near_name(models_dir, tmp_path, capsys):
    out = tmp_path / "never.tflite"
    assert main(["convert", str(models_dir / "listed.keras"), "-o", str(out), "--output-map", "frist=a", "--dry-run"]) == 2
    assert "(did you mean 'first'?)" in capsys.readouterr().err


def test_shell_completion_answers_commands_and_flags(tmp_path):
    """argcomplete (extra `completion`), as bash asks it: the real console script, the shell's variables."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("litesig")
    answers = {}
    for line in ("litesig ver", "litesig verify m.tflite --o", "litesig metadata m.tflite --la"):
        out = tmp_path / "completions.txt"
        env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
               "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
        proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        answers[line] = out.read_text().replace("\x0b", " ").split()
    assert answers == {"litesig ver": ["verify"], "litesig verify m.tflite --o": ["--on"],
                       "litesig metadata m.tflite --la": ["--labels"]}


def test_a_flag_mistake_is_one_line_with_a_suggestion_not_a_usage_dump(capsys):
    import pytest

    from litesig.cli.main import main

    for argv, hint in ((["convert", "m.keras", "-o", "m.tflite", "--optimize", "fp16"], "did you mean 'float16'?"),
                       (["convrt", "m.keras"], "did you mean 'convert'?")):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and "usage:" not in err and len(err.strip().splitlines()) <= 2, err
        assert hint in err and "--help" in err


def test_quiet_is_one_line(converted, tmp_path, capsys):
    from litesig.cli.main import main

    seed = str(converted["seed"])
    for argv in (["inspect", seed, "-q"],
                 ["rename", seed, "-o", str(tmp_path / "r.tflite"), "--signature", "sample_method_name=classify", "-q"],
                 ["verify", seed, "--against", seed, "-q"]):
        assert main(argv) == 0, argv
        out = capsys.readouterr().out
        assert len(out.strip().splitlines()) == 1, (argv, out)
