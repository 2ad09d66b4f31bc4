"""LiteRT.js (@litertjs/core 2.5.3, the browser's wasm build) run in Node: the real package, installed by npm ci from
litesig's lockfile into the runtime cache on first use. Needs node and npm, which .ci/run installs; without them these
tests fail naming the packages (never skip)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import litesig
from litesig.cli.main import main
from litesig.runtimes.litertjs import WebRunner


@pytest.fixture(scope="module")
def node_installed():
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: apt-get install nodejs npm (.ci/run installs them)")


@pytest.fixture(scope="module")
def web_coder(models_dir, node_installed, tmp_path_factory):
    """The two-signature SavedModel converted with --target web: batch fixed to 1, proven on LiteRT.js before writing."""
    out = tmp_path_factory.mktemp("web") / "coder_web.tflite"
    return litesig.convert(models_dir / "coder", out, targets="web")


def test_convert_target_web_proves_every_signature_on_litertjs(web_coder):
    report = web_coder.verification
    assert report is not None and report.passed
    (web,) = report.others
    assert web.runtime.startswith("LiteRT.js 2.5.3") and web.passed and not web.unavailable
    assert {c.signature for c in web.cases} == {"encode", "decode"}
    assert any(n.startswith("--target web:") and "fixed from [-1," in n for n in web_coder.notes), web_coder.notes


def test_litertjs_outputs_match_litesig_run(web_coder):
    """Independently of verify: fresh inputs through LiteRT.js and through the Interpreter, output by output. Not always
    bit-identical: the wasm build's XNNPACK kernels round differently (measured: 1 ulp on a fully connected layer)."""
    path = web_coder.path
    rng = np.random.default_rng(3)
    with WebRunner(path) as web:
        assert web.signatures == litesig.Runner(path).signatures
        for sig in web.signatures:
            details = web.input_details(sig)
            inputs = {n: rng.uniform(-1, 1, d.shape_signature).astype(d.dtype) for n, d in details.items()}
            got, want = web.run(inputs, signature=sig), litesig.run(path, inputs, signature=sig)
            assert got.keys() == want.keys() and got
            for name in want:
                assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, (sig, name)
                np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6, err_msg=f"{sig}/{name}")


def test_verify_on_web_refuses_a_dynamic_batch_naming_the_fix(converted, node_installed, capsys):
    """The default (dynamic-batch) file loads on LiteRT.js but cannot run: no resize. Said before starting it, exit 1."""
    assert main(["verify", str(converted["seed"]), "--on", "web"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "cannot run on web" in out and "LiteRT.js cannot resize" in out and "--input-shape x_input=1,128,3" in out


def test_verify_on_web_without_against_compares_with_the_interpreter(web_coder, capsys):
    assert main(["verify", str(web_coder.path), "--on", "web", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (web,) = report["others"]
    assert web["passed"] and web["runtime"].startswith("LiteRT.js")
    assert max(o["max_abs"] for c in web["cases"] for o in c["outputs"]) < 1e-5
    assert main(["verify", str(web_coder.path)]) == 2  # nothing to compare with: a usage error, not a pass
    assert "--against" in capsys.readouterr().err


def test_target_web_refuses_int8_boundaries_before_converting(models_dir, tmp_path):
    with pytest.raises(litesig.InvalidInput, match="int8 does not cross LiteRT.js's boundary .*: use uint8"):
        litesig.convert(models_dir / "litesig.toml", tmp_path / "never.tflite", targets="web", optimize="int8",
                        calibration=tmp_path / "c.npz", input_dtype="int8")
    assert not (tmp_path / "never.tflite").exists()


def test_inspect_predicts_what_litertjs_does(converted, web_coder):
    """inspect's prediction (read from the file) agrees with the real LiteRT.js on a dynamic and a fixed file."""
    from litesig.runtimes.compiled import RuntimeUnavailable

    for path, runs in ((converted["seed"], False), (web_coder.path, True)):
        fits = [f for f in litesig.inspect(path).app_runtimes if f.runtime == "web"]
        assert fits and all(f.runs is runs for f in fits), fits
        try:
            WebRunner(path).close()
            ran = True
        except RuntimeUnavailable:
            ran = False
        assert ran is runs


def test_headless_chromium_wasm_and_webgpu(web_coder):
    """The same file in a real page: its wasm within 1 ulp of Node's (Chromium has relaxed SIMD, so LiteRT.js loads
    another build there than in Node 20); WebGPU (SwiftShader, JSPI build) fully accelerated within 1e-5."""
    path = web_coder.path
    rng = np.random.default_rng(4)
    feeds = {sig: {n: rng.uniform(-1, 1, d.shape_signature).astype(d.dtype) for n, d in litesig.Runner(path).input_details(sig).items()}
             for sig in ("encode", "decode")}
    results = {}
    for where, accelerator in (("node", "wasm"), ("chromium", "wasm"), ("chromium", "webgpu")):
        with WebRunner(path, where=where, accelerator=accelerator) as web:
            assert web.fully_accelerated is (accelerator == "webgpu")
            results[(where, accelerator)] = {sig: web.run(feeds[sig], signature=sig) for sig in feeds}
    node, page, gpu = results.values()
    for sig in feeds:
        for name, want in node[sig].items():
            np.testing.assert_allclose(page[sig][name], want, rtol=1e-6, atol=1e-6, err_msg=f"{sig}/{name}")
            np.testing.assert_allclose(gpu[sig][name], want, rtol=1e-5, atol=1e-5)


def test_verify_on_web_gpu_reports_acceleration_and_refuses_dynamic_shapes(web_coder, converted, capsys):
    assert main(["verify", str(web_coder.path), "--on", "web-gpu", "--json"]) == 0, capsys.readouterr().err
    (gpu,) = json.loads(capsys.readouterr().out)["others"]
    assert gpu["runtime"] == "LiteRT.js 2.5.3 (WebGPU, headless Chromium)" and gpu["passed"]
    assert gpu["accelerated"] == "fully accelerated"
    assert main(["verify", str(converted["seed"]), "--on", "web-gpu"]) == 1
    assert "cannot run on web-gpu" in " ".join(capsys.readouterr().out.split())


def test_target_web_moves_int64_and_bool_across_the_boundary_as_int32_and_uint8(keras, node_installed, tmp_path, capsys):
    """LiteRT.js loads no file with int64 or bool inputs/outputs: --target web gives int32/uint8 at the boundary with the
    cast inside the graph, proven on LiteRT.js against the source; without it, verify --on web says what to do."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), dtype="int64", name="ids")
    score = keras.layers.Dense(3, name="score")(keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 4)(ids)))
    positive = keras.layers.Lambda(lambda t: t > 0.0, output_shape=(3,), name="positive")(score)
    keras.Model(ids, {"score": score, "positive": positive}).save(tmp_path / "ids.keras")
    result = litesig.convert(tmp_path / "ids.keras", tmp_path / "web.tflite", targets="web", unsafe=True)
    (web,) = result.verification.others
    assert web.passed and {c.signature for c in web.cases} == {"serving_default"}
    runner = litesig.Runner(result.path)
    assert {n: d.dtype.name for n, d in runner.input_details().items()} == {"ids": "int32"}
    assert {n: d.dtype.name for n, d in runner.output_details().items()} == {"score": "float32", "positive": "uint8"}
    assert any("ids takes int32 (cast to int64 inside the graph" in n for n in result.notes), result.notes
    assert any("positive gives uint8 (cast from bool" in n for n in result.notes), result.notes
    plain = litesig.convert(tmp_path / "ids.keras", tmp_path / "plain.tflite", unsafe=True, input_shapes={"ids": [1, 6]})
    assert main(["verify", str(plain.path), "--on", "web"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "is int64" in out and "make it int32" in out and "is bool" in out
