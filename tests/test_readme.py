"""Every `litesig` command in the README runs, in order, as written, on files like the ones it names (exit 0).

The placeholders are made here: classifier.keras (an image classifier with an input named `image`, 5 classes),
saved_model_dir (a SavedModel with `encode` and `decode`), the seed example's litesig.toml with its two models,
labels.txt. A README command that stops working (a flag renamed, an output that already exists) fails this test."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from litesig.cli.main import main

README = Path(__file__).parents[1] / "README.md"


def _commands() -> list[list[str]]:
    lines, inside = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and line.startswith("litesig "):
            lines.append(line.split("  #")[0].strip())
    return [shlex.split(line)[1:] for line in lines]


def test_readme_commands_run_as_written(models_dir, keras, tmp_path, monkeypatch, capsys):
    commands = _commands()
    assert len(commands) >= 8 and {c[0] for c in commands} >= {"convert", "inspect", "verify", "metadata"}
    keras.utils.set_random_seed(0)
    image = keras.Input((224, 224, 3), name="image")
    x = keras.layers.Conv2D(2, 3, strides=8, activation="relu")(image)
    probs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(image, probs).save(tmp_path / "classifier.keras")
    shutil.copytree(models_dir / "coder", tmp_path / "saved_model_dir")
    for name in ("litesig.toml", "model_a.keras", "model_b.keras"):
        shutil.copy(models_dir / name, tmp_path / name)
    (tmp_path / "labels.txt").write_text("cat\ndog\nbird\nfish\nfrog\n")
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, (argv, captured.err[-1500:])
