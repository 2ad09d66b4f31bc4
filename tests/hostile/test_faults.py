"""File-system faults, races and runtime crashes: each ends as a message and exit 2, never a lost or partial file."""

from __future__ import annotations

import errno
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from litesig.tflite import flatbuffer as fb
from litesig._io import check_writable, write_atomic
from litesig.errors import InvalidInput, LitesigError, OutputExists
from litesig.tflite.rename import rename
from tests.hostile.cases import CASES, tiny_model, tiny_object, to_bytes

ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "litesig", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "m.tflite"
    path.write_bytes(tiny_model())
    return path


def _tmpfs(path: Path, options: str) -> bool:
    """Mount a small tmpfs at path (root on Linux); False where the machine does not allow it."""
    path.mkdir(exist_ok=True)
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KB file system, real where possible (else None: the test simulates ENOSPC)."""
    where = tmp_path / "small"
    mounted = _tmpfs(where, "size=64k")
    yield where if mounted else None
    if mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_second_of_two_racing_writers_fails_cleanly(tmp_path):
    target = tmp_path / "out.tflite"
    check_writable(target, force=False)  # both writers pass the early check...
    target.write_bytes(b"the other writer's file")  # ...then the other one finishes first
    with pytest.raises(OutputExists):
        write_atomic(target, b"mine", replace=False)
    assert target.read_bytes() == b"the other writer's file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tflite"]  # no temporary left


def test_two_concurrent_renames_to_one_path(model, tmp_path):
    for round_ in range(2):
        out = tmp_path / f"race{round_}.tflite"
        procs = [subprocess.Popen([sys.executable, "-m", "litesig", "rename", str(model), "-o", str(out), "--signature", f"serve=by{k}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
                 for k in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        assert any("exists; pass --force" in err for _, err in results)
        keys = [s.key for s in fb.read_model(out).signatures]
        assert keys in (["by0"], ["by1"])


def test_merge_never_replaces_a_file_created_while_it_ran(model, tmp_path, monkeypatch):
    """merge checks every signature before writing; a file another process creates meanwhile is kept (was replaced, exit 0)."""
    from litesig.verification import merged

    other = tmp_path / "other.tflite"
    other.write_bytes(tiny_model(key="second"))
    out = tmp_path / "merged.tflite"
    real = merged.check_signatures

    def meanwhile(*args, **kwargs):
        out.write_bytes(b"the other writer's file")
        return real(*args, **kwargs)

    monkeypatch.setattr(merged, "check_signatures", meanwhile)
    with pytest.raises(OutputExists):
        merged.merge([model, other], out)
    assert out.read_bytes() == b"the other writer's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "merged.tflite", "other.tflite"]


def test_in_place_keeps_mode_owner_and_symlink(model, tmp_path):
    os.chmod(model, 0o600)
    if os.geteuid() == 0:
        os.chown(model, 4321, 4321)
    link = tmp_path / "link.tflite"
    link.symlink_to(model)
    result = rename(link, in_place=True, signatures={"serve": "classify"})
    assert link.is_symlink() and link.resolve() == model.resolve()
    assert [s.key for s in fb.read_model(model).signatures] == ["classify"]
    st = os.stat(model)
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (4321, 4321)
    assert any("symlink" in c for c in result.changes) and any("mode and owner" in c for c in result.changes)


def test_disk_full_is_a_message_and_leaves_nothing(model, tmp_path, small_fs, monkeypatch):
    big = tmp_path / "big.tflite"
    m = tiny_object()
    m.buffers.append(__import__("ai_edge_litert.schema_py_generated", fromlist=["BufferT"]).BufferT())
    m.buffers[-1].data = list(np.zeros(200_000, np.uint8))  # a 200 KB model: more than the file system holds
    big.write_bytes(to_bytes(m))
    where = small_fs or tmp_path / "simulated"
    where.mkdir(exist_ok=True)
    if small_fs is None:  # no tmpfs here: the kernel's answer, simulated at the one call that writes
        real_copy = os.copy_file_range if hasattr(os, "copy_file_range") else None

        def full(*_a, **_k):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "copy_file_range", full, raising=False)
        assert real_copy is None or callable(real_copy)
        with pytest.raises(LitesigError, match="no space left"):
            rename(big, where / "out.tflite", signatures={"serve": "s2"})
    else:
        r = cli("rename", str(big), "-o", str(where / "out.tflite"), "--signature", "serve=s2")
        assert r.returncode == 2 and "no space left on the device" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(where.iterdir()) == []  # no partial target, no temporary


def test_read_only_file_system(model, tmp_path):
    where = tmp_path / "ro"
    if not _tmpfs(where, "size=64k,ro"):
        os.chmod(where, 0o555)  # not root: a read-only folder gives the same EACCES path
        if os.geteuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs here, and root ignores folder permissions")
    try:
        r = cli("rename", str(model), "-o", str(where / "out.tflite"), "--signature", "serve=s2")
        assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "read-only" in r.stderr or "permission denied" in r.stderr
        r = cli("demo", str(where / "demo"))  # was a traceback (FileExistsError/OSError from mkdir)
        assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_kill_9_mid_write_leaves_no_partial_target_and_the_next_run_cleans_up(tmp_path):
    target = tmp_path / "out.bin"
    ready = tmp_path / "ready"
    code = f"""
import time
from pathlib import Path
from litesig._io import write_atomic

def fill(tmp):
    with open(tmp, "wb") as f:
        f.write(b"x" * 100000)
        f.flush()
        Path({str(ready)!r}).touch()
        time.sleep(60)

write_atomic({str(target)!r}, fill)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    litter = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(litter) == 1  # the dead run's temporary...
    write_atomic(target, b"next run")
    assert target.read_bytes() == b"next run"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # ...removed by the next write beside it


def test_rename_refuses_an_absent_name_field(tmp_path):
    m = tiny_object()
    m.signatureDefs[0].inputs[0].name = None  # no name field at all: its position reads as 0
    path = tmp_path / "absent.tflite"
    path.write_bytes(to_bytes(m))
    assert fb.read_model(path).signatures[0].inputs[0].name_field == 0
    with pytest.raises(InvalidInput, match="no field to go in"):
        rename(path, tmp_path / "out.tflite", inputs={("serve", ""): "image"})
    assert not (tmp_path / "out.tflite").exists()


def test_rename_refuses_a_tensor_map_shared_by_two_signatures(tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    m = tiny_object()
    second = schema.SignatureDefT()
    second.signatureKey, second.subgraphIndex = "other", 0
    second.inputs, second.outputs = [schema.TensorMapT()], [schema.TensorMapT()]
    second.inputs[0].name, second.inputs[0].tensorIndex = "x2", 0
    second.outputs[0].name, second.outputs[0].tensorIndex = "y2", 1
    m.signatureDefs.append(second)
    data = bytearray(to_bytes(m))
    root = schema.Model.GetRootAs(data, 0)
    sigs = [root.SignatureDefs(i) for i in range(2)]
    tables = [s.Inputs(0)._tab.Pos for s in sigs]
    vectors = [s._tab.Vector(s._tab.Offset(4)) for s in sigs]
    # Point one signature's inputs vector at the other's TensorMap (offsets only point forward).
    src, dst = (0, 1) if tables[1] > vectors[0] else (1, 0)
    struct.pack_into("<I", data, vectors[src], tables[dst] - vectors[src])
    path = tmp_path / "shared.tflite"
    path.write_bytes(bytes(data))
    parsed = fb.read_model(path)
    assert parsed.signatures[0].inputs[0].name_field == parsed.signatures[1].inputs[0].name_field
    shared_name = parsed.signatures[dst].inputs[0].name
    with pytest.raises(InvalidInput, match="shared by several signatures"):
        rename(path, tmp_path / "out.tflite", inputs={(parsed.signatures[src].key, shared_name): "renamed"})
    assert not (tmp_path / "out.tflite").exists()


def test_a_litert_crash_in_the_probe_is_an_error_naming_the_file():
    from litesig.runtimes import _isolate

    # A subgraph that calls itself: LiteRT recurses until its stack overflows, a SIGSEGV every time (validation
    # refuses the file first). The crash of op_inputs_all_optional, used before, depends on what memory the forked
    # child inherits: it did not crash in 2 of 4 full-suite runs.
    probe = _isolate.Probe(CASES["call_once_loop"](), "crafted.tflite", num_threads=1, subgraphs=4)
    with pytest.raises(_isolate.RuntimeCrash, match=r"crafted.tflite: LiteRT crashed \(SIGSEGV\) while running signature 'serve'"):
        probe.run("serve", {"x": np.zeros((1, 4), np.float32)})
    with pytest.raises(_isolate.RuntimeCrash):  # a crashed probe stays crashed: every later call says so
        probe.run("serve", {"x": np.zeros((1, 4), np.float32)})
    probe = _isolate.Probe(tiny_model(), "fine.tflite", num_threads=1, subgraphs=1)
    assert probe.run("serve", {"x": np.zeros((1, 4), np.float32)}) > 0
    probe.close()


def test_names_that_are_savez_keywords_are_kept(tmp_path):
    from litesig._arrays import load_npz, save_npz

    arrays = {"file": np.ones(2), "allow_pickle": np.zeros(3), "self": np.arange(4), "args": np.ones(1)}
    save_npz(tmp_path / "o.npz", arrays)
    back = load_npz(tmp_path / "o.npz")
    assert sorted(back) == sorted(arrays) and all(np.array_equal(back[k], v) for k, v in arrays.items())


def test_bench_peak_memory_is_its_own_not_its_parents(model):
    hog = np.ones(400 * 2**20 // 8)  # this process holds 400 MB; its child must not report them
    r = cli("bench", str(model), "--runs", "3", "--warmup", "0", "--json")
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout)["peak_rss_mib"] < 300
    assert hog.sum() > 0


def test_the_int8_worker_dies_with_its_parent(tmp_path):
    """A convert killed mid-calibration must not leave its worker computing (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    pid_file = tmp_path / "worker.pid"
    worker = ("import os, sys, time; from litesig.conversion._worker import die_with_parent; "
              f"die_with_parent(int(sys.argv[1])); open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)")
    parent = ("import os, subprocess, sys, time; "
              f"subprocess.Popen([sys.executable, '-c', {worker!r}, str(os.getpid())]); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", parent], env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker_pid = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{worker_pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":  # a zombie: dead, waiting for init to reap it
                return
        time.sleep(0.05)
    os.kill(worker_pid, signal.SIGKILL)
    raise AssertionError("the worker outlived its parent")


def test_inspect_says_what_run_would_refuse():
    from litesig.tflite.model_info import inspect

    codes = [w.code for w in inspect(CASES["op_inputs_all_optional"]()).warnings]
    assert "refused" in codes
    assert "refused" not in [w.code for w in inspect(tiny_model()).warnings]
