"""The hostile suite: every TF-free command on every hostile file, name and input, as a separate process.

Each run must end with exit 0, 1 or 2, no traceback, within the hang limit (10 s), under 1 GB
peak memory, with no ESC byte in human output, strict JSON with --json, nothing written on
failure, and every written file must parse again. Runs are forked from one driver process
(tests/hostile/_driver.py) that has imported litesig once, so 500 runs take about a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile.cases import CASES, ESC_NAME, tiny_model, tiny_object, to_bytes

ROOT = Path(__file__).resolve().parents[2]
HANG_S = 10.0  # a run longer than this is killed and counted as a hang
PEAK_MIB = 1024


def drive(jobs: list[dict], workers: int = 2) -> list[dict]:
    """Run CLI jobs in forked children of `workers` driver processes; results in job order."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    chunks = [jobs[i::workers] for i in range(workers)]

    def one(chunk: list[dict]) -> list[dict]:
        if not chunk:
            return []
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "hostile" / "_driver.py")], input=json.dumps({"jobs": chunk, "limit": HANG_S}),
                              capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(one, chunks))
    results: list[dict] = [{}] * len(jobs)
    for w, part in enumerate(parts):
        for k, r in enumerate(part):
            results[w + k * workers] = r
    return results


def _strict(constant: str) -> None:
    raise ValueError(f"non-standard JSON constant {constant}")


def check(job: dict, r: dict) -> list[str]:
    """Every rule a run must keep; the broken ones, in words."""
    bad = []
    if r["hang"]:
        bad.append(f"hang (> {HANG_S:.0f} s)")
    if r["code"] not in (0, 1, 2):
        bad.append(f"exit {r['code']}")
    if "Traceback" in r["stderr"]:
        bad.append("traceback: " + r["stderr"][-600:])
    if r["peak_mib"] > PEAK_MIB:
        bad.append(f"peak {r['peak_mib']} MiB")
    if "--json" in job["argv"]:
        if r["stdout"].strip():
            try:
                json.loads(r["stdout"], parse_constant=_strict)
            except ValueError as e:
                bad.append(f"not strict JSON: {e}")
    elif "\x1b" in r["stdout"] + r["stderr"]:
        bad.append("ESC byte in human output")
    written = job.get("writes")
    if written:
        path = Path(written)
        if r["code"] != 0 and path.exists() and not job.get("existed"):
            bad.append(f"exit {r['code']} but {path.name} was written")
        if r["code"] == 0 and path.exists():
            why = reparse(path)
            if why:
                bad.append(f"{path.name} does not parse: {why}")
    return bad


def reparse(path: Path) -> str | None:
    from litesig.tflite import flatbuffer as fb
    from litesig._arrays import load_npz
    from litesig.errors import LitesigError

    try:
        if path.suffix == ".tflite":  # a written model parses and passes the validation run/verify apply
            from litesig.tflite.validate import validate

            validate(fb.read_model(path), str(path))
        elif path.suffix == ".npz":
            load_npz(path)
        elif path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        else:
            path.read_text(encoding="utf-8")
    except (LitesigError, SyntaxError, UnicodeDecodeError, ValueError) as e:
        return str(e)[:300]
    return None


def model_jobs(model: Path, out: Path, other: Path | None = None) -> list[dict]:
    m = str(model)
    merge = [{"argv": ["merge", m, str(other), "-o", str(out / "merged.tflite"), "--signature", f"{other.stem}:serve=other"],
              "writes": str(out / "merged.tflite")}] if other is not None else []
    return merge + [
        {"argv": ["inspect", m]},
        {"argv": ["inspect", m, "--json"]},
        {"argv": ["run", m, "--random", "-o", str(out / "o.npz")], "writes": str(out / "o.npz")},
        {"argv": ["run", m, "--random", "--json"]},
        {"argv": ["bench", m, "--runs", "2", "--warmup", "0"]},
        {"argv": ["bench", m, "--runs", "2", "--warmup", "0", "--json"]},
        {"argv": ["rename", m, "-o", str(out / "r.tflite"), "--signature", "serve=renamed"], "writes": str(out / "r.tflite")},
        {"argv": ["rename", m, "-o", str(out / "r2.tflite"), "--input", "x=renamed_x", "--output", "y=renamed_y"],
         "writes": str(out / "r2.tflite")},
        {"argv": ["codegen", m, "--lang", "python", "-o", str(out / "runner.py")], "writes": str(out / "runner.py")},
        {"argv": ["codegen", m, "--lang", "cpp", "-o", str(out / "runner.h")], "writes": str(out / "runner.h")},
        {"argv": ["codegen", m, "--lang", "kotlin"]},
        {"argv": ["verify", m, "--against", m, "--batch-sizes", "1"]},
    ]


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    for name, build in CASES.items():
        (d / f"{name}.tflite").write_bytes(build())
    (d / "other").mkdir()
    (d / "other" / "v.tflite").write_bytes(tiny_model())  # the second input of merge
    return d


def test_every_command_on_every_hostile_file(hostile_dir, tmp_path):
    jobs = []
    for model in sorted(hostile_dir.glob("*.tflite")):
        for k, job in enumerate(model_jobs(model, tmp_path / model.stem, hostile_dir / "other" / "v.tflite")):
            job["out"] = str(tmp_path / model.stem / f"job{k}")
            job["case"] = model.stem
            jobs.append(job)
    results = drive(jobs)
    failures = [f"{job['case']}: litesig {' '.join(job['argv'][:1])} {' '.join(job['argv'][2:])}: {why}"
                for job, r in zip(jobs, results) for why in check(job, r)]
    assert not failures, "\n".join(failures[:40])
    by_case: dict[str, list[int]] = {}
    for job, r in zip(jobs, results):
        by_case.setdefault(job["case"], []).append(r["code"])
    # The suite proves something only if good files pass: the valid model and hostile *names* work everywhere.
    for case in ("valid", "name_escapes", "name_markup", "name_python_kwargs", "name_allow_pickle", "name_bidi"):
        assert set(by_case[case][:5]) == {0}, (case, by_case[case])
    assert set(by_case["valid"]) == {0}, by_case["valid"]
    # Files LiteRT used to crash on are refused before it sees them.
    for case in ("sig_subgraph_7", "op_inputs_all_optional", "huge_shape", "shape_4m_dims", "map_tensor_55"):
        assert by_case[case][3] == 2, (case, by_case[case])
    kwargs = np.load(tmp_path / "name_python_kwargs" / "o.npz")
    assert kwargs.files == ["file"]  # np.savez(**outputs) used to drop or refuse it


def test_metadata_keeps_the_rules_on_every_hostile_file(hostile_dir, tmp_path):
    """`metadata` reads the same hostile files as every other command: the same rules. Image-shaped files with
    hostile names (in the signature and the tensors, which metadata names) must be written, their names escaped."""
    images = tmp_path / "images"
    images.mkdir()
    for name, names in {"image_valid": ("x", "y"), "image_name_escapes": (ESC_NAME, "y\x1b[31m"),
                        "image_name_markup": ("[/]", "[bold red]x[/]")}.items():
        m = tiny_object(input_name=names[0], output_name=names[1], shape=[1, 2, 2, 3])
        m.subgraphs[0].tensors[0].name, m.subgraphs[0].tensors[1].name = names
        (images / f"{name}.tflite").write_bytes(to_bytes(m))
    jobs = [{"argv": ["metadata", str(model), "-o", str(tmp_path / "out" / f"{model.stem}.tflite"), "--mean", "0", "--std", "255"],
             "writes": str(tmp_path / "out" / f"{model.stem}.tflite"), "out": str(tmp_path / "job" / model.stem), "case": model.stem}
            for model in sorted(hostile_dir.glob("*.tflite")) + sorted(images.glob("*.tflite"))]
    results = drive(jobs)
    failures = [f"{job['case']}: {why}" for job, r in zip(jobs, results) for why in check(job, r)]
    assert not failures, "\n".join(failures[:40])
    codes = {job["case"]: r["code"] for job, r in zip(jobs, results)}
    assert {case: code for case, code in codes.items() if case.startswith("image_")} == dict.fromkeys(
        ("image_name_escapes", "image_name_markup", "image_valid"), 0)
    assert codes["valid"] == 2  # [1, 4] is no image: refused, with a message


def _bomb(path: Path, declared_shape: tuple[int, ...]) -> None:
    """An .npz whose member header declares a huge array but holds 16 bytes."""
    header = {"descr": "<f4", "fortran_order": False, "shape": declared_shape}
    text = repr(header).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    raw = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", raw)


def _zip_bomb(path: Path) -> None:
    """An .npz of a few MB that inflates to 8 GB: refused by the declared size, nothing inflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as member:
            from numpy.lib import format as npformat

            npformat.write_array_header_2_0(member, {"descr": "<f4", "fortran_order": False, "shape": (1, 4)})
        info = zf.getinfo("x.npy")
    # Rewrite the declared size in place is fiddly; a second member declaring gigabytes is enough:
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("y.npy", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 24)
            for _ in range(16):  # 256 MB of zeros, about 250 KB compressed
                member.write(chunk)
    assert info.filename == "x.npy"


def _model_with_zip_bomb(path: Path, valid: bytes, members: int) -> None:
    """A valid model with associated files appended as a zip: `members` files of 256 MB of zeros, about 250 KB each."""
    path.write_bytes(valid)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        chunk = b"\0" * (1 << 24)
        for k in range(members):
            with zf.open(f"labels_{k}.txt", "w", force_zip64=True) as member:
                for _ in range(16):
                    member.write(chunk)


def test_merge_bounds_the_associated_files_it_carries(hostile_dir, tmp_path):
    """merge inflated every associated file to check it (a 3 MB file passed 6 GB): declared sizes are checked first,
    members are checked streaming, and the zip is carried as its bytes."""
    valid = (hostile_dir / "valid.tflite").read_bytes()
    bomb = tmp_path / "bomb.tflite"
    _model_with_zip_bomb(bomb, valid, members=4)  # 1 GB declared, 1 MB on disk
    ok = tmp_path / "ok.tflite"
    _model_with_zip_bomb(ok, valid, members=0)
    with zipfile.ZipFile(ok, "a") as zf:
        zf.writestr("labels.txt", "cat\ndog\n")
    other = str(hostile_dir / "other" / "v.tflite")
    jobs = [{"argv": ["merge", str(bomb), other, "-o", str(tmp_path / "m1.tflite"), "--signature", "v:serve=other"],
             "out": str(tmp_path / "jobs" / "bomb"), "case": "bomb", "writes": str(tmp_path / "m1.tflite")},
            {"argv": ["merge", str(ok), other, "-o", str(tmp_path / "m2.tflite"), "--signature", "v:serve=other"],
             "out": str(tmp_path / "jobs" / "ok"), "case": "ok", "writes": str(tmp_path / "m2.tflite")}]
    bomb_run, ok_run = drive(jobs, workers=1)
    assert not check(jobs[0], bomb_run) and not check(jobs[1], ok_run)
    assert bomb_run["code"] == 2 and "LITESIG_MAX_ASSOCIATED_MB" in bomb_run["stderr"] and bomb_run["peak_mib"] < 300
    assert ok_run["code"] == 0
    with zipfile.ZipFile(tmp_path / "m2.tflite") as zf:
        assert zf.read("labels.txt") == b"cat\ndog\n"


def test_memory_follows_the_model_not_the_file(hostile_dir, tmp_path):
    """A 17 KB model padded to 10 GB (sparse, no disk cost) made `run` use 10.3 GB: every command that reads a file's
    bytes maps it, parses the model, and refuses a tail past LITESIG_MAX_ASSOCIATED_MB before reading it."""
    valid = hostile_dir / "valid.tflite"
    padded = tmp_path / "padded.tflite"
    padded.write_bytes(valid.read_bytes())
    with open(padded, "r+b") as f:
        f.truncate(2 * 2**30)  # sparse: 2 GiB of NULs after the model
    p, other = str(padded), str(hostile_dir / "other" / "v.tflite")
    argvs = {
        "run": ["run", p, "--random"],
        "verify": ["verify", p, "--against", str(valid)],
        "verify_reference": ["verify", str(valid), "--against", p],
        "bench": ["bench", p, "--runs", "1"],
        "rename": ["rename", p, "-o", str(tmp_path / "r.tflite"), "--signature", "serve=s"],
        "merge": ["merge", p, other, "-o", str(tmp_path / "m.tflite"), "--signature", "padded:serve=a", "--signature", "v:serve=b"],
        "quantize": ["quantize", p, "-o", str(tmp_path / "q.tflite"), "--optimize", "dynamic-int8"],
        "codegen": ["codegen", p, "--lang", "python", "-o", str(tmp_path / "c.py")],
    }
    jobs = [{"argv": argv, "out": str(tmp_path / "jobs" / name), "case": name,
             "writes": argv[argv.index("-o") + 1] if "-o" in argv else None} for name, argv in argvs.items()]
    results = drive(jobs, workers=2)
    for job, r in zip(jobs, results):
        assert not check(job, r), (job["case"], check(job, r))
        assert r["code"] == 2 and "LITESIG_MAX_ASSOCIATED_MB" in r["stderr"], (job["case"], r["stderr"][-400:])
        assert r["peak_mib"] < 600, (job["case"], r["peak_mib"])
    proc = subprocess.run([sys.executable, "-m", "litesig", "inspect", p, "--json"], capture_output=True, text=True, timeout=60)
    info = json.loads(proc.stdout)  # inspect still describes it, and says what lies after the model
    assert info["appended_bytes"] > 2 * 2**30 - 2**20 and any(w["code"] == "refused" for w in info["warnings"])


def test_hostile_inputs_specs_and_flags(hostile_dir, tmp_path):
    valid = str(hostile_dir / "valid.tflite")
    (tmp_path / "fifo").mkdir()
    fifo = tmp_path / "fifo" / "in.npz"
    os.mkfifo(fifo)
    _bomb(tmp_path / "lying_header.npz", (1, 100000, 30000))
    _bomb(tmp_path / "small_lie.npz", (1, 4))  # 16 bytes declared and held: a valid input
    np.save(tmp_path / "lie.npy", np.zeros((1, 4), np.float32))
    lie = tmp_path / "lie.npy"
    data = bytearray(lie.read_bytes())
    data[data.index(b"(1, 4)"):data.index(b"(1, 4)") + 6] = b"(9, 9)"
    lie.write_bytes(bytes(data))
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4), np.float32))
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object))
    (tmp_path / "deep.toml").write_text("a = " + "[" * 50000 + "]" * 50000 + "\n")
    (tmp_path / "markup.toml").write_text('[signatures.serve]\nname = "[/]\\u001b[2J"\n')
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(20 * 2**20)  # sparse: 20 MB of NULs
    keras_fifo = tmp_path / "fifo" / "model.keras"
    os.mkfifo(keras_fifo)
    (tmp_path / "pb_fifo").mkdir()
    os.mkfifo(tmp_path / "pb_fifo" / "saved_model.pb")
    (tmp_path / "fifo_model.toml").write_text(f'[models.m]\npath = "{keras_fifo}"\n[signatures.s.inputs]\nx = {{}}\n'
                                              '[signatures.s.outputs]\ny = "m"\n')
    victim = tmp_path / "victim.tflite"
    victim.write_bytes((hostile_dir / "valid.tflite").read_bytes())
    (tmp_path / "alias.tflite").symlink_to(victim)
    (tmp_path / "dangling.py").symlink_to(tmp_path / "elsewhere" / "x.py")
    (tmp_path / "source.keras").write_bytes(b"a user's model")
    cases = {
        # -o naming an input (itself or through a link) is refused even with --force; a dangling link is not followed.
        "out_is_model_codegen": ["codegen", str(victim), "--lang", "python", "-o", str(victim), "--force"],
        "out_is_model_run": ["run", str(victim), "--random", "-o", str(victim), "--force"],
        "out_is_model_via_link_rename": ["rename", str(victim), "-o", str(tmp_path / "alias.tflite"), "--force", "--signature", "serve=s"],
        "out_is_input_merge": ["merge", str(victim), valid, "-o", str(victim), "--force"],
        "out_is_source_convert": ["convert", str(tmp_path / "source.keras"), "-o", str(tmp_path / "source.keras"), "--force"],
        "out_dangling_link": ["codegen", str(victim), "--lang", "python", "-o", str(tmp_path / "dangling.py")],
        # Keras and SavedModel sources are refused before Keras or TensorFlow opens them (a FIFO blocked forever).
        "source_fifo_convert": ["convert", str(keras_fifo), "-o", str(tmp_path / "s1.tflite")],
        "source_dev_zero_convert": ["convert", "/dev/zero", "-o", str(tmp_path / "s2.tflite")],
        "source_pb_fifo_convert": ["convert", str(tmp_path / "pb_fifo"), "-o", str(tmp_path / "s3.tflite")],
        "source_fifo_in_spec": ["convert", str(tmp_path / "fifo_model.toml"), "-o", str(tmp_path / "s4.tflite")],
        "source_fifo_verify": ["verify", valid, "--against", str(keras_fifo)],
        "source_dev_zero_verify": ["verify", valid, "--against", "/dev/zero"],
        "source_name_too_long": ["convert", str(tmp_path / ("k" * 300 + ".keras")), "-o", str(tmp_path / "s5.tflite")],
        "npz_fifo": ["run", valid, "--inputs", str(fifo)],
        "npz_dev_zero": ["run", valid, "--inputs", "/dev/zero"],
        "npz_lying_header": ["run", valid, "--inputs", str(tmp_path / "lying_header.npz")],
        "npz_small_lie_ok": ["run", valid, "--inputs", str(tmp_path / "small_lie.npz")],
        "npy_lying_header": ["run", valid, "--input", f"x={lie}"],
        "npz_empty_array": ["run", valid, "--inputs", str(tmp_path / "empty.npz")],
        "npz_pickle": ["run", valid, "--inputs", str(tmp_path / "pickled.npz")],
        "verify_empty_inputs": ["verify", valid, "--against", valid, "--inputs", str(tmp_path / "empty.npz")],
        "verify_batch_0": ["verify", valid, "--against", valid, "--batch-sizes", "0"],
        "verify_batch_negative": ["verify", valid, "--against", valid, "--batch-sizes", "-3"],
        "verify_batch_absurd": ["verify", valid, "--against", valid, "--batch-sizes", "99999999999"],
        "verify_samples_0": ["verify", valid, "--against", valid, "--samples", "0"],
        "bench_shape_huge": ["bench", valid, "--shape", "x=100000,100000"],
        "bench_runs_0": ["bench", valid, "--runs", "0"],
        "run_dynamic_huge": ["run", str(hostile_dir / "huge_dynamic_shape.tflite"), "--random"],
        "model_fifo": ["inspect", str(fifo)],
        "model_dev_zero": ["run", "/dev/zero", "--random"],
        "model_dir": ["inspect", str(tmp_path)],
        "map_deep": ["rename", valid, "-o", str(tmp_path / "m1.tflite"), "--map", str(tmp_path / "deep.toml")],
        "map_fifo": ["rename", valid, "-o", str(tmp_path / "m2.tflite"), "--map", str(fifo)],
        "map_binary": ["rename", valid, "-o", str(tmp_path / "m3.tflite"), "--map", str(tmp_path / "binary.toml")],
        "map_big": ["rename", valid, "-o", str(tmp_path / "m4.tflite"), "--map", str(big)],
        "map_markup_name": ["rename", valid, "-o", str(tmp_path / "m5.tflite"), "--map", str(tmp_path / "markup.toml")],
        "rename_to_escape": ["rename", valid, "-o", str(tmp_path / "m6.tflite"), "--signature", "serve=a\x1b[2Jb"],
        "output_name_too_long": ["run", valid, "--random", "-o", str(tmp_path / ("n" * 300 + ".npz"))],
        "output_in_missing_file_dir": ["codegen", valid, "--lang", "python", "-o", str(tmp_path / "small_lie.npz" / "x.py")],
    }
    jobs = [{"argv": argv, "out": str(tmp_path / "jobs" / name), "case": name} for name, argv in cases.items()]
    results = drive(jobs)
    failures = [f"{job['case']}: {why}" for job, r in zip(jobs, results) for why in check(job, r)]
    assert not failures, "\n".join(failures)
    codes = {job["case"]: r["code"] for job, r in zip(jobs, results)}
    assert codes.pop("npz_small_lie_ok") == 0
    assert codes.pop("verify_empty_inputs") == 1  # nothing compared is a failure, not a pass
    assert set(codes.values()) == {2}, codes
    assert not (tmp_path / "m5.tflite").exists() or reparse(tmp_path / "m5.tflite") is None
    assert victim.read_bytes() == (hostile_dir / "valid.tflite").read_bytes()
    assert (tmp_path / "source.keras").read_bytes() == b"a user's model" and not (tmp_path / "elsewhere").exists()


@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(min_size=0, max_size=40), st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40)),
                min_size=6, max_size=6))
def test_random_names_survive_every_command(tmp_path, names):
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # one folder per example: the fixture's is shared between them
    jobs = []
    for i, (key, inp, out) in enumerate(names):
        if inp == out:
            out += "_"
        model = tmp_path / f"n{i}_{len(jobs)}.tflite"
        model.write_bytes(tiny_model(key=key or "k", input_name=inp, output_name=out))
        for k, job in enumerate(model_jobs(model, tmp_path / model.stem)):
            if job["argv"][0] in ("inspect", "run", "rename"):
                job["out"] = str(tmp_path / model.stem / f"job{k}")
                job["case"] = repr((key, inp, out))
                jobs.append(job)
    results = drive(jobs)
    failures = [f"{job['case']} {job['argv'][0]}: {why}" for job, r in zip(jobs, results) for why in check(job, r)]
    assert not failures, "\n".join(failures[:20])
