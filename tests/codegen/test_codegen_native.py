"""--lang c: the generated wrapper is compiled, linked against the wheel's libLiteRt.so and run by
signature; its outputs are bit-identical to `litesig run` on the same inputs. And the quantize /
dequantize helpers of C and Java give the same numbers as the Python ones."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

import litesig
from litesig.codegen import generate_code
from litesig.codegen.names import snake

_CTYPES = {"float32": "float", "int32": "int32_t", "int64": "int64_t", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t"}


def _libdir() -> Path:
    import ai_edge_litert

    d = Path(ai_edge_litert.__file__).parent
    assert (d / "libLiteRt.so").exists(), f"the ai-edge-litert wheel has no libLiteRt.so in {d}"
    return d


def _int_io(keras, tf, models_dir, d: Path, dtype) -> Path:
    model = keras.models.load_model(models_dir / "listed.keras")
    conv = tf.lite.TFLiteConverter.from_keras_model(keras.Model(model.inputs, model.outputs[0]))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.default_rng(i).uniform(-1, 1, (1, 5)).astype(np.float32)] for i in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = dtype
    conv.inference_output_type = dtype
    path = d / f"{dtype.name}_io.tflite"
    path.write_bytes(conv.convert())
    return path


def _two_signature_int_io(models_dir, d: Path) -> Path:
    """The coder SavedModel's two signatures, int8-quantized with integer I/O by litesig's own spec (issue 10):
    encode int8 in and out, decode uint8 in and int8 out."""
    data = {"models": {"enc": {"path": str(models_dir / "coder"), "signature": "encode"},
                       "dec": {"path": str(models_dir / "coder"), "signature": "decode"}},
            "signatures": {"encode": {"io_dtype": "int8", "inputs": {"x": {}}, "outputs": {"code": "enc"}},
                           "decode": {"inputs": {"code": {"io_dtype": "uint8"}},
                                      "outputs": {"reconstruction": {"model": "dec", "io_dtype": "int8"}}}}}
    rng = np.random.default_rng(0)
    np.savez(d / "coder_calib.npz", **{"encode/x": rng.uniform(-1, 1, (8, 1, 4)).astype(np.float32),
                                       "decode/code": rng.uniform(-2, 2, (8, 1, 3)).astype(np.float32)})
    spec = litesig.spec_from_dict({**data, "convert": {"optimize": "int8", "calibration": str(d / "coder_calib.npz")}})
    path = litesig.convert(spec, d / "coder_int_io.tflite", verify=False).path
    detail = litesig.inspect(path).precision_detail
    assert detail.inputs == {"encode/x": "int8", "decode/code": "uint8"}
    assert detail.outputs == {"encode/code": "int8", "decode/reconstruction": "int8"}
    return path


@pytest.fixture(scope="module")
def native_models(converted, models_dir, tmp_path_factory, tf, keras):
    d = tmp_path_factory.mktemp("native_models")
    return {"seed": converted["seed"], "seed_f16": converted["seed_f16"], "coder": converted["coder"],
            "multi": converted["multi"], "int8_io": _int_io(keras, tf, models_dir, d, tf.int8),
            "uint8_io": _int_io(keras, tf, models_dir, d, tf.uint8), "coder_int_io": _two_signature_int_io(models_dir, d)}


def _main_for(path: Path, feeds: dict[str, dict[str, np.ndarray]], work: Path) -> str:
    """A C main that runs every signature on inputs read from files and writes each output to a file."""
    info = litesig.inspect(path)
    lines = ["#include <stdio.h>", "#include <stdlib.h>", '#include "gen.h"',
             "static void* slurp(const char* p, size_t n) { void* b = malloc(n); FILE* f = fopen(p, \"rb\");",
             "  if (!f || fread(b, 1, n, f) != n) { fprintf(stderr, \"read %s\\n\", p); exit(3); } fclose(f); return b; }",
             "static void dump(const char* p, const void* b, size_t n) { FILE* f = fopen(p, \"wb\"); fwrite(b, 1, n, f); fclose(f); }",
             "int main(int argc, char** argv) {", "  gen_model m; int status; (void)argc;",
             "  if ((status = gen_open(&m, argv[1])) != 0) { fprintf(stderr, \"open %d\\n\", status); return 1; }"]
    for s_index, (key, sig) in enumerate(info.signatures.items()):
        feed = feeds[key]
        args = []
        batch = next((feed[n].shape[0] for n, t in sig.inputs.items() if t.shape and t.shape[0] == -1), None)
        if batch is not None:
            args.append(str(batch))
        lines.append("  {")
        for i, name in enumerate(sig.inputs):
            arr = feed[name]
            f = work / f"in_{s_index}_{i}.bin"
            f.write_bytes(arr.tobytes())
            lines.append(f'    void* in{i} = slurp("{f}", {arr.nbytes});')
            args.append(f"({_CTYPES[arr.dtype.name]}*)in{i}")
        for k, t in enumerate(sig.outputs.values()):
            count = int(np.prod([batch if d == -1 else d for d in t.shape])) if t.shape else 1
            lines.append(f"    {_CTYPES[t.dtype]}* out{k} = malloc({count} * sizeof({_CTYPES[t.dtype]}));")
            args.append(f"out{k}")
        lines.append(f"    if ((status = gen_{snake(key)}(&m, {', '.join(args)})) != 0) {{ fprintf(stderr, \"run {key} %d\\n\", status); return 2; }}")
        for k, t in enumerate(sig.outputs.values()):
            count = int(np.prod([batch if d == -1 else d for d in t.shape])) if t.shape else 1
            lines.append(f'    dump("{work / f"out_{s_index}_{k}.bin"}", out{k}, {count} * sizeof({_CTYPES[t.dtype]}));')
        lines.append("  }")
    lines += ["  gen_close(&m);", "  return 0;", "}"]
    return "\n".join(lines) + "\n"


def _compile_c(work: Path, main: str, std: str = "c99") -> Path:
    (work / "main.c").write_text(main)
    lib = _libdir()
    exe = work / "main"
    proc = subprocess.run(["gcc", f"-std={std}", "-Wall", "-Wextra", "-Werror", f"-I{work}", "-o", str(exe), str(work / "main.c"),
                           f"-L{lib}", "-l:libLiteRt.so", f"-Wl,-rpath,{lib}", "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


@pytest.mark.parametrize("name", ["seed", "seed_f16", "coder", "multi", "int8_io", "uint8_io", "coder_int_io"])
def test_c_wrapper_runs_on_libLiteRt_bit_identical_to_litesig_run(native_models, name, tmp_path):
    from litesig.runtimes.inputs import sample_inputs

    path = native_models[name]
    (tmp_path / "gen.h").write_text(generate_code(path, "c", class_name="gen"))
    rng = np.random.default_rng(1)
    runner = litesig.Runner(path)
    info = litesig.inspect(path)
    feeds = {key: sample_inputs(runner.input_details(key), batch=3, dynamic=3, rng=rng) for key in info.signatures}
    exe = _compile_c(tmp_path, _main_for(path, feeds, tmp_path))
    proc = subprocess.run([str(exe), str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for s_index, (key, sig) in enumerate(info.signatures.items()):
        want = litesig.run(path, feeds[key], signature=key)
        for k, out_name in enumerate(sig.outputs):
            got = (tmp_path / f"out_{s_index}_{k}.bin").read_bytes()
            assert got == want[out_name].tobytes(), f"{name}/{key}/{out_name}"


def test_c_wrapper_compiles_as_cpp(native_models, tmp_path):
    (tmp_path / "gen.h").write_text(generate_code(native_models["coder"], "c", class_name="gen"))
    (tmp_path / "main.cc").write_text('#include "gen.h"\nint main() { gen_model m; return gen_open(&m, "x") == 0; }\n')
    proc = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}", "-fsyntax-only", str(tmp_path / "main.cc")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


VALUES = [0.0, 0.5, -0.5, 1.0, -1.0, 16.56, -16.56, 1e6, -1e6, 0.00390625, 0.0123, float("nan"), float("inf")]


def _python_helpers(path: Path, tmp_path: Path):
    src = tmp_path / "qpy.py"
    src.write_text(generate_code(path, "python", class_name="Q"))
    spec = importlib.util.spec_from_file_location("qpy", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["int8_io", "uint8_io"])
def test_native_quantize_helpers_match_python(native_models, name, tmp_path):
    path = native_models[name]
    info = litesig.inspect(path)
    (inp,) = info.signatures["serving_default"].inputs.values()
    (out,) = info.signatures["serving_default"].outputs.values()
    py = _python_helpers(path, tmp_path)
    want_q = py.Q.__dict__[f"quantize_{snake(inp.name)}"](np.array(VALUES, np.float32))
    raw = np.arange(-128, 128) if out.dtype == "int8" else np.arange(0, 256)
    want_dq = py.Q.__dict__[f"dequantize_{snake(out.name)}"](raw.astype(out.dtype))
    # Python itself: rounding halves away from zero and clamping, checked against the definition.
    scale, zp = inp.quantization.scale, inp.quantization.zero_point
    lo, hi = (-128, 127) if inp.dtype == "int8" else (0, 255)
    for v, q in zip(VALUES, want_q):
        x = np.float32(v) / np.float32(scale)
        expect = zp if np.isnan(x) else int(np.clip(np.sign(x) * np.floor(abs(float(x)) + 0.5) + zp, lo, hi))
        assert int(q) == expect, (v, q, expect)
    assert want_dq.dtype == np.float32 and (want_dq[raw == out.quantization.zero_point] == 0).all()
    if out.dtype == "uint8":
        assert want_dq[-1] > 0  # 255 is the largest value, not -1

    c_type = _CTYPES[out.dtype]
    (tmp_path / "gen.h").write_text(generate_code(path, "c", class_name="gen"))
    main = ["#include <stdio.h>", "#include <math.h>", '#include "gen.h"', "int main(void) {",
            f"  const float values[] = {{{', '.join('NAN' if np.isnan(v) else 'INFINITY' if np.isinf(v) else repr(v) + 'f' for v in VALUES)}}};",
            f"  for (unsigned i = 0; i < {len(VALUES)}; ++i) printf(\"%d\\n\", (int)gen_quantize_{snake(inp.name)}(values[i]));",
            f"  for (int q = {raw[0]}; q <= {raw[-1]}; ++q) printf(\"%.9g\\n\", (double)gen_dequantize_{snake(out.name)}(({c_type})q));",
            "  return 0;", "}"]
    exe = _compile_c(tmp_path, "\n".join(main) + "\n")
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in lines[:len(VALUES)]] == [int(q) for q in want_q]
    assert np.array_equal(np.array(lines[len(VALUES):], np.float32), want_dq)

    java = tmp_path / "Q.java"
    java.write_text(generate_code(path, "java", class_name="Q"))
    harness = tmp_path / "H.java"
    pascal_in = "".join(w.capitalize() for w in snake(inp.name).split("_"))
    pascal_out = "".join(w.capitalize() for w in snake(out.name).split("_"))
    harness.write_text(
        "public class H { public static void main(String[] a) {\n"
        f"  float[] values = {{{', '.join('Float.NaN' if np.isnan(v) else 'Float.POSITIVE_INFINITY' if np.isinf(v) else repr(v) + 'f' for v in VALUES)}}};\n"
        f"  for (float v : values) System.out.println(Q.quantize{pascal_in}(v){' & 0xFF' if inp.dtype == 'uint8' else ''});\n"
        f"  for (int q = {raw[0]}; q <= {raw[-1]}; ++q) System.out.println(Q.dequantize{pascal_out}((byte) q));\n"
        "} }\n")
    stubs = Path(__file__).parent / "stubs" / "java" / "org" / "tensorflow" / "lite" / "Interpreter.java"
    subprocess.run(["javac", "-d", str(tmp_path / "cls"), str(stubs), str(java), str(harness)], check=True, capture_output=True)
    lines = subprocess.run(["java", "-cp", str(tmp_path / "cls"), "H"], capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in lines[:len(VALUES)]] == [int(q) for q in want_q]
    assert np.array_equal(np.array(lines[len(VALUES):], np.float32), want_dq)  # Java prints floats round-trip exact
