"""Generated TypeScript: type-checked by tsc --strict against @litertjs/core's own types, then run on the real LiteRT.js
(its wasm build, in Node and in a headless Chromium page) and compared with the same runtime driven by litesig and with
`litesig run`.

The tools come from web/package-lock.json (typescript, @litertjs/core), installed with npm ci into the runtime cache
once; node and npm are installed by .ci/run. Never skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import litesig
from litesig.runtimes.legacy import _locked, cache_dir
from litesig.runtimes.litertjs import PACKAGE, WebRunner

WEB = Path(__file__).parents[2] / "web"


@pytest.fixture(scope="session")
def web_tools() -> Path:
    """node_modules holding typescript and @litertjs/core, as web/package-lock.json pins them."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: apt-get install nodejs npm (.ci/run installs them)")
    lock = (WEB / "package-lock.json").read_text()
    folder = cache_dir() / "web-tools"
    with _locked(cache_dir() / "web-tools.lock"):
        stamp = folder / ".litesig-ready"
        if not (stamp.is_file() and stamp.read_text() == lock):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(WEB / name, folder / name)
            subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                           check=True, timeout=600)
            stamp.write_text(lock)
    return folder / "node_modules"


@pytest.fixture(scope="module")
def web_files(models_dir, tmp_path_factory) -> dict[str, Path]:
    """A float32 file with two signatures and a uint8-I/O file, both made with --target web."""
    d = tmp_path_factory.mktemp("ts")
    calib = d / "calib.npz"
    np.savez(calib, x_input=np.random.default_rng(0).uniform(-1, 1, (8, 128, 3)).astype(np.float32))
    return {
        "coder": litesig.convert(models_dir / "coder", d / "coder.tflite", targets="web").path,
        "seed_uint8": litesig.convert(models_dir / "litesig.toml", d / "seed_uint8.tflite", targets="web", optimize="int8",
                                      calibration=calib, input_dtype="uint8", output_dtype="uint8").path,
    }


CALLS = """
const answer = {quantized: {}, outputs: {}};
for (const call of job.calls) {
  const inputs = {};
  for (const [prop, spec] of Object.entries(call.inputs)) {
    const values = spec.values.map((v) => v ?? NaN);  // JSON has no NaN: null stands for it
    inputs[prop] = spec.quantize ? generated[spec.quantize](values) : new globalThis[spec.array](values);
    answer.quantized[call.method + '/' + prop] = Array.from(inputs[prop]);
  }
  const out = await model[call.method](inputs);
  answer.outputs[call.method] = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v)]));
  for (const [prop, helper] of Object.entries(call.dequantize ?? {})) {
    answer.outputs[call.method][prop + ':real'] = Array.from(generated[helper](out[prop]));
  }
}
model.delete();
"""
NODE = """
import {SHIM};
import {loadLiteRt} from '@litertjs/core';
import {readFileSync} from 'node:fs';
const generated = await import('./out/model.js');
await loadLiteRt({WASM});
const job = JSON.parse(readFileSync('job.json', 'utf8'));
const model = await generated[job.cls].load(new Uint8Array(readFileSync(job.model)));
""" + CALLS + """
console.log(JSON.stringify(answer));
"""
PAGE = """<!doctype html>
<script type="importmap">{"imports": {"@litertjs/core": "/modules/@litertjs/core/dist/index.js",
                                      "@litertjs/wasm-utils": "/modules/@litertjs/wasm-utils/dist/index.js"}}</script>
<script type="module">
import {loadLiteRt} from '@litertjs/core';
const generated = await import('/model.js');
const job = await (await fetch('/job.json')).json();
await loadLiteRt('/modules/@litertjs/core/wasm/');
const model = await generated[job.cls].load('/model.tflite');  // by URL, as a web app loads it
""" + CALLS + """
await fetch('/answer', {method: 'POST', body: JSON.stringify(answer)});
</script>
"""


def _compile(code: str, tools: Path, tmp: Path) -> Path:
    """tsc --strict the module; the JavaScript it emits lands in tmp/out."""
    (tmp / "node_modules").symlink_to(tools)
    (tmp / "model.ts").write_text(code)
    (tmp / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "strict": True, "noImplicitAny": True, "noUnusedLocals": True, "noUnusedParameters": True, "target": "ES2022",
        "module": "ES2022", "moduleResolution": "bundler", "lib": ["ES2022", "DOM"], "outDir": "out", "skipLibCheck": False,
        "types": ["@webgpu/types"]}, "files": ["model.ts"]}))
    proc = subprocess.run(["node", str(tools / "typescript" / "bin" / "tsc"), "-p", "tsconfig.json"], cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "out" / "model.js"


def _run(tmp: Path, tools: Path, job: dict) -> dict:
    (tmp / "job.json").write_text(json.dumps(job))
    shim = json.dumps((PACKAGE / "node_shim.mjs").as_uri())
    wasm = json.dumps((tools / "@litertjs" / "core" / "wasm").as_uri() + "/")
    (tmp / "main.mjs").write_text(NODE.replace("{SHIM}", shim).replace("{WASM}", wasm))
    proc = subprocess.run(["node", "main.mjs"], cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_in_chromium(tmp: Path, tools: Path, job: dict, model: Path) -> dict:
    """The emitted module in a headless Chromium page that litesig's browser runner serves (import map, 127.0.0.1)."""
    from litesig.runtimes._browser import Page

    (tmp / "job.json").write_text(json.dumps(job))
    (tmp / "page.html").write_text(PAGE)
    served = {"/page.html": tmp / "page.html", "/model.js": tmp / "out" / "model.js", "/job.json": tmp / "job.json",
              "/model.tflite": model}
    (tmp / "chromium").mkdir()
    page = Page(tmp / "chromium", tools, served, {})
    try:
        answer = page.receive(120)
    finally:
        page.close()
    assert answer is not None, "the page gave no answer in 120 s"
    return answer


def test_typescript_type_checks_and_runs_both_signatures_on_litertjs(web_files, web_tools, tmp_path):
    path = web_files["coder"]
    code = litesig.generate_code(path, "typescript")
    _compile(code, web_tools, tmp_path)
    rng = np.random.default_rng(5)
    runner = litesig.Runner(path)
    calls, feeds = [], {}
    for sig, method in (("encode", "encode"), ("decode", "decode")):
        details = runner.input_details(sig)
        arrays = {n: rng.uniform(-1, 1, d.shape_signature).astype(np.float32) for n, d in details.items()}
        feeds[sig] = arrays
        props = {"x": "x", "code": "code"}  # the generated properties (camelCase of the real names)
        calls.append({"method": method, "inputs": {props[n]: {"array": "Float32Array", "values": a.ravel().tolist()}
                                                   for n, a in arrays.items()}})
    job = {"cls": "Coder", "model": str(path), "calls": calls}
    answers = {"node": _run(tmp_path, web_tools, job), "chromium": _run_in_chromium(tmp_path, web_tools, job, path)}
    for where, answer in answers.items():
        with WebRunner(path, where=where) as web:
            for sig in ("encode", "decode"):
                direct, interpreter = web.run(feeds[sig], signature=sig), litesig.run(path, feeds[sig], signature=sig)
                for name, want in direct.items():
                    got = np.asarray(answer["outputs"][sig][name], np.float32).reshape(want.shape)
                    assert np.array_equal(got, want), (where, sig, name)  # the same runtime and build: bit-identical
                    np.testing.assert_allclose(got, interpreter[name], rtol=1e-6, atol=1e-6)


def test_typescript_uint8_io_with_its_quantize_helpers(web_files, web_tools, tmp_path):
    """uint8 I/O: the generated quantize helper makes the same integers as numpy does; outputs equal litesig run's."""
    path = web_files["seed_uint8"]
    code = litesig.generate_code(path, "typescript")
    assert "export function quantizeXInput(" in code and "export function dequantizeMyOutputA(" in code
    _compile(code, web_tools, tmp_path)
    runner = litesig.Runner(path)
    (detail,) = runner.input_details().values()
    assert detail.dtype == np.uint8 and list(detail.shape_signature) == [1, 128, 3]
    real = np.random.default_rng(9).uniform(-1, 1, (1, 128, 3)).astype(np.float32)
    real.ravel()[:3] = [np.nan, 1e9, -1e9]  # NaN -> zero point; out of range -> clamped
    answer = _run(tmp_path, web_tools, {"cls": "SeedUint8", "model": str(path), "calls": [{
        "method": "sampleMethodName", "inputs": {"xInput": {"quantize": "quantizeXInput", "values": [None if np.isnan(v) else v for v in real.ravel().tolist()]}},
        "dequantize": {"myOutputA": "dequantizeMyOutputA"}}]})
    scale, zero = detail.quantization
    x = real / np.float32(scale)
    want_q = np.clip(np.where(np.isnan(x), 0, np.sign(x) * np.floor(np.abs(x) + 0.5)) + zero, 0, 255).astype(np.uint8)
    got_q = np.asarray(answer["quantized"]["sampleMethodName/xInput"], np.uint8).reshape(want_q.shape)
    assert np.array_equal(got_q, want_q)
    want = litesig.run(path, {"x_input": want_q})
    outs = answer["outputs"]["sampleMethodName"]
    for name, prop in (("my_output_a", "myOutputA"), ("my_output_b", "myOutputB")):
        got = np.asarray(outs[prop], np.uint8).reshape(want[name].shape)
        assert np.abs(got.astype(int) - want[name].astype(int)).max() <= 1, name  # integer kernels: at most 1 step apart
    (out_a,) = [d for n, d in runner.output_details().items() if n == "my_output_a"]
    a_scale, a_zero = out_a.quantization
    real_a = np.asarray(outs["myOutputA:real"], np.float32)
    assert np.array_equal(real_a, np.float32(a_scale) * (np.asarray(outs["myOutputA"], np.int32) - a_zero).astype(np.float32))


def test_typescript_refuses_what_litertjs_cannot_run(converted):
    with pytest.raises(litesig.LitesigError, match="LiteRT.js cannot resize"):
        litesig.generate_code(converted["seed"], "typescript")
