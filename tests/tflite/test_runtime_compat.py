"""Op versions, the minimum runtime, --target-runtime on inspect/verify/convert, and the op-version data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import litesig
from litesig.tflite import flatbuffer as fb
from litesig.cli.main import main
from litesig.errors import InvalidInput
from litesig.tflite.model_info import inspect
from litesig.tflite.runtime_compat import BASELINE, parse_target, registry, release_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seed_dynamic(models_dir, tmp_path_factory):
    """The seed example converted with --optimize dynamic-int8 and no target: FULLY_CONNECTED v12."""
    d = tmp_path_factory.mktemp("dyn")
    return litesig.convert(models_dir / "litesig.toml", d / "seed_dyn.tflite", optimize="dynamic-int8").path


def test_registry_data_says_where_it_was_read_from_and_holds_known_facts():
    data = registry()
    assert data["source"]["repository"] == "google-ai-edge/LiteRT"
    assert data["source"]["path"].endswith("runtime_version.cc") and len(data["source"]["commit"]) == 40
    ops = data["ops"]
    assert ops["FULLY_CONNECTED"]["12"] == "2.17.0" and ops["FULLY_CONNECTED"]["9"] == "2.3.0"
    assert ops["CONV_2D"]["5"] == "2.4.0" and ops["ADD"]["1"] == "1.5.0"
    assert data["newest_release"] == max((r for v in ops.values() for r in v.values()), key=release_key)


def test_generator_round_trips_the_packaged_table(tmp_path):
    # A runtime_version.cc-shaped text made from the package's own table (no third-party source in the repo).
    entries = [f'{{{{BuiltinOperator_{op}, {v}}}, "{r}"}},  // note' for op, vs in registry()["ops"].items() for v, r in vs.items()]
    cc = tmp_path / "runtime_version.cc"
    cc.write_text("/* header */\nstatic auto* op_version_map = new std::map({\n" + "\n".join(entries) + "\n});\n")
    tool = [sys.executable, str(ROOT / "tools" / "gen_op_versions.py"), str(cc)]
    check = subprocess.run([*tool, "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    out = tmp_path / "op_versions.json"
    written = subprocess.run([*tool, "--repository", "x/y", "--path", "p.cc", "--commit", "c" * 40, "-o", str(out)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert json.loads(out.read_text())["ops"] == registry()["ops"]

    cc.write_text(cc.read_text().replace('BuiltinOperator_FULLY_CONNECTED, 12}, "2.17.0"', 'BuiltinOperator_FULLY_CONNECTED, 12}, "2.16.0"'))
    drift = subprocess.run([*tool, "--check"], capture_output=True, text=True)
    assert drift.returncode == 1 and "FULLY_CONNECTED" in drift.stdout


def test_target_runtime_is_validated():
    assert parse_target(" 2.14 ") == "2.14" and release_key("2.14") == (2, 14, 0) < release_key("2.14.4")
    for bad in ("2.x", "two", "2.14.0.1", ""):
        with pytest.raises(InvalidInput, match="release such as 2.14"):
            parse_target(bad)


def test_inspect_shows_fc_v12_the_runtime_it_needs_and_warns_past_the_baseline(seed_dynamic):
    info = inspect(seed_dynamic)
    req = info.runtime
    assert ("FULLY_CONNECTED", 12, "2.17.0") in {(o.op, o.version, o.first_release) for o in req.ops}
    assert req.min_runtime == "2.17.0" and req.metadata_min_runtime == "2.17.0" and not req.metadata_disagrees
    assert release_key(req.min_runtime) > release_key(BASELINE)
    (warning,) = [w for w in info.warnings if w.code == "newer_runtime"]
    assert "FULLY_CONNECTED v12" in warning.message and "--target-runtime" in warning.fix


def test_inspect_json_and_exit_code_with_a_target(seed_dynamic, capsys):
    assert main(["inspect", str(seed_dynamic), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runtime"]["min_runtime"] == "2.17.0"
    assert ("FULLY_CONNECTED", 12, "2.17.0") in {(o["op"], o["version"], o["first_release"]) for o in data["runtime"]["ops"]}

    assert main(["inspect", str(seed_dynamic), "--target-runtime", "2.14", "--json"]) == 1  # a failed check
    data = json.loads(capsys.readouterr().out)
    (blocker,) = data["runtime"]["target_blockers"]
    assert blocker["op"] == "FULLY_CONNECTED" and blocker["version"] == 12 and "per-channel" in blocker["cause"]
    assert any(w["code"] == "target_runtime" for w in data["warnings"])
    assert main(["inspect", str(seed_dynamic), "--target-runtime", "2.17"]) == 0
    out = capsys.readouterr().out
    assert "FULLY_CONNECTED" in out and "2.17.0" in out and "agrees" in out
    assert main(["inspect", str(seed_dynamic), "--target-runtime", "2.x"]) == 2


def test_metadata_that_disagrees_with_the_op_versions_is_flagged(seed_dynamic, tmp_path):
    data = bytearray(seed_dynamic.read_bytes())
    m = fb.parse(bytes(data))
    entry = next(md for md in m.metadata if md.name == "min_runtime_version")
    buf = m.buffers[entry.buffer]
    data[buf.data_pos : buf.data_pos + buf.data_size] = b"1.5.0".ljust(buf.data_size, b"\0")
    info = inspect(bytes(data))
    assert info.runtime.metadata_min_runtime == "1.5.0" and info.runtime.metadata_disagrees
    assert any(w.code == "min_runtime_metadata" for w in info.warnings)


def test_flex_ops_need_registration_whatever_the_version(converted):
    req = inspect(converted["flex"], target_runtime="2.14").runtime
    assert any(name.startswith("Flex") and name.endswith("(flex)") for name in req.needs_registration)
    assert not req.loads_on("2.14")


def test_convert_keeps_dense_per_tensor_for_an_old_target_and_says_so(models_dir, tmp_path, capsys):
    out = tmp_path / "dyn_214.tflite"
    code = main(["convert", str(models_dir / "litesig.toml"), "-o", str(out), "--optimize", "dynamic-int8", "--target-runtime", "2.14", "--json"])
    assert code == 0
    notes = " ".join(json.loads(capsys.readouterr().out)["notes"])
    assert "per tensor" in notes and "FULLY_CONNECTED is v9" in notes
    assert inspect(out, target_runtime="2.14").runtime.target_blockers == []


def test_convert_refuses_a_result_the_target_cannot_load(models_dir, tmp_path, capsys):
    out = tmp_path / "dyn_22.tflite"
    code = main(["convert", str(models_dir / "litesig.toml"), "-o", str(out), "--optimize", "dynamic-int8", "--target-runtime", "2.2"])
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "FULLY_CONNECTED v9" in err and "2.3.0" in err and "Fix:" in err and "not written" in err


def test_spec_target_runtime_must_be_a_quoted_release(seed_spec):
    from litesig.sources.spec import load_spec

    for value, message in (("2.10", "quoted"), ('"2.x"', "release such as")):
        with pytest.raises(InvalidInput, match=message):
            load_spec(seed_spec("none", f"target_runtime = {value}"))  # the seed spec ends inside [convert]
    assert load_spec(seed_spec("none", 'target_runtime = "2.14"')).options.target_runtime == "2.14"


def test_verify_with_a_target_fails_on_op_versions_even_when_outputs_match(seed_dynamic, models_dir, capsys):
    assert main(["verify", str(seed_dynamic), "--against", str(models_dir / "litesig.toml"), "--target-runtime", "2.14", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False and data["runtime"]["target_blockers"][0]["version"] == 12


# ai-edge-quantizer declares every op v1; the tensors say what the runtime needs (kernel_needs, from LiteRT's op_version.cc).
@pytest.fixture(scope="module")
def quantized(keras, tmp_path_factory):
    d = tmp_path_factory.mktemp("kernel_needs")
    keras.Sequential([keras.Input((32,), name="features"), keras.layers.Dense(32)]).save(d / "mlp.keras")
    import numpy as np

    np.savez(d / "calib.npz", features=np.random.default_rng(0).uniform(-1, 1, (8, 32)).astype(np.float32))
    return {mode: litesig.convert(d / "mlp.keras", d / f"{mode}.tflite", signature="embed", optimize=mode, verify=False,
                                  calibration=d / "calib.npz" if mode.startswith("static") else None).path
            for mode in ("weight-only-int4", "blockwise-int4", "static-int16", "weight-only-int8")}


def test_int4_dequantize_needs_v6_whatever_the_file_declares(quantized, capsys):
    req = inspect(quantized["weight-only-int4"]).runtime
    assert {(o.op, o.version) for o in req.ops} == {("DEQUANTIZE", 1), ("FULLY_CONNECTED", 1)}
    assert [(n.op, n.declared, n.implied) for n in req.understated] == [("DEQUANTIZE", 1, 6)]
    assert req.min_runtime == "2.18.0" and not req.loads_on("2.14") and req.loads_on("2.18")
    assert main(["inspect", str(quantized["weight-only-int4"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    codes = {w["code"]: w["message"] for w in data["warnings"]}
    assert "DEQUANTIZE declared v1, its tensors need v6 (2.18.0)" in codes["understated_op_versions"]
    assert "newer_runtime" in codes and data["runtime"]["understated"][0]["feature"] == "int4 weights dequantized at run time"
    assert main(["inspect", str(quantized["weight-only-int4"]), "--target-runtime", "2.14"]) == 1
    assert "declared v1 but its tensors need more than a 2.14 runtime" in capsys.readouterr().out.replace("\n", " ")


def test_blockwise_weights_in_a_float_kernel_have_no_release(quantized):
    req = inspect(quantized["blockwise-int4"]).runtime
    (need,) = req.understated
    assert need.op == "FULLY_CONNECTED" and need.implied is None and "blockwise" in need.feature
    assert req.min_runtime is None  # cannot be computed: no op version marks it
    assert not req.loads_on("2.14") and not req.loads_on("2.99")
    (blocker,) = req.blockers("2.14")
    assert "no op version marks" in str(blocker) and "int8" in blocker.fix


def test_int16_and_int8_weights_read_from_tensors_and_what_2_14_has(quantized):
    int16 = inspect(quantized["static-int16"]).runtime
    assert int16.loads_on("2.14") and int16.min_runtime is not None and release_key(int16.min_runtime) <= release_key(BASELINE)
    assert int16.understated == []  # FULLY_CONNECTED int16 x int8 without a quantized bias is v1 under LiteRT's rules too
    wo8 = inspect(quantized["weight-only-int8"]).runtime
    assert [(n.op, n.implied) for n in wo8.understated] == [("DEQUANTIZE", 5)]  # per-channel int8: 2.7.0
    assert wo8.min_runtime == "2.7.0" and wo8.loads_on("2.14")
    codes = {w.code for w in inspect(quantized["weight-only-int8"]).warnings}
    # understated (v1 declared, v5 needed) but 2.7.0 is older than the 2.14 baseline: nothing to warn about
    assert "newer_runtime" not in codes and "understated_op_versions" not in codes
