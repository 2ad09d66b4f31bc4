"""Hostile names in real .tflite files: generated code compiles in every language and its string
literals are exactly the file's names (so no name can become code).

Each hypothesis example patches 4 models x 10 names (2 signature keys, 2 inputs and 2 outputs each)
into a real converted file, generates every language, and compiles all files of one language in
ONE compiler run (javac and kotlinc take seconds to start). The literal check runs the compiled
code: Java/Kotlin constants read by reflection, C++ constants printed byte by byte, Python imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import litesig
from litesig.tflite import flatbuffer as fb
from litesig.tflite import rename as renaming
from litesig._names import name_problem
from litesig.codegen import generate_code
from litesig.codegen.names import Scope, camel, pascal, snake
from litesig.errors import InvalidInput, LitesigError

STUBS = Path(__file__).parent / "stubs"
MODELS_PER_EXAMPLE = 4

# What an attacker or a real shipped file puts in a name (see issue 11).
HOSTILE = [
    '"', "\\", '"""', "'''", "*/", "/*", "*/\nint pwned;/*", "\\u000a", "\\u0022", "\\", "${Runtime.getRuntime()}",
    "$x", "#", "??/", "??=", "\\x41BC", "a\nb", "tail\n", "\r", "\t", "é", "日本語", "😀", "\u202e", "\u2028",
    "class", "in", "new", "delete", "int", "lambda", "self", "np", "batch", "inputs", "outputs", "Encode", "encode",
    "a.b", "a_b", "out-a", "out_a", "SIGNATURE", "kSignature", "x", "X",
    '{"name": "timer_v0.1", "labels": ["timer"], "threshold": 0.5}',  # openwakeword-style JSON text
    '" + 0*system("touch /tmp/pwned") + "', '"); Runtime.getRuntime().exec("touch /tmp/pwned"); ("',
    '"""; import os; os.system("touch /tmp/pwned"); """', "\\", "%s%n", "{{ 7*7 }}", "\x7f", "",
]


@pytest.fixture(scope="module")
def base_model(tf, tmp_path_factory) -> Path:
    """A real converted file with 2 signatures x (2 inputs + 2 outputs): 10 names to overwrite."""
    d = tmp_path_factory.mktemp("hostile")

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None, 2], tf.float32, name="b")])
        def first(self, a, b):
            return {"c": a + b, "d": a * b}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="a"), tf.TensorSpec([None, 3], tf.float32, name="b")])
        def second(self, a, b):
            return {"c": a - b, "d": a * 2.0 + b}

    m = Two()
    tf.saved_model.save(m, str(d / "two"), signatures={"first": m.first, "second": m.second})
    return litesig.convert(d / "two", d / "two.tflite").path


def _with_names(base: Path, target: Path, new: list[str]) -> Path:
    """`base` with its 10 names replaced in file order (keys, then each signature's inputs, outputs): no name rule applied."""
    parsed = fb.read_model(base)
    fields = [s.key_field for s in parsed.signatures]
    for s in parsed.signatures:
        fields += [tm.name_field for tm in s.inputs] + [tm.name_field for tm in s.outputs]
    assert len(fields) == len(new) == 10
    renaming._write(base, target, parsed, dict(zip(fields, new)))
    return target


def _file_names(path: Path) -> list[str]:
    info = litesig.inspect(path)
    out = []
    for key, sig in info.signatures.items():
        out += [key, *sig.inputs, *sig.outputs]
    return out


_name = st.one_of(
    st.sampled_from([h for h in HOSTILE if h]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=8),
)


def _unique(names_: list[str]) -> bool:
    keys, rest = names_[:2], names_[2:]
    return len(set(keys)) == 2 and len(set(rest[:4])) == 4 and len(set(rest[4:])) == 4


_model_names = st.lists(_name, min_size=10, max_size=10).filter(_unique)


def _chunks() -> list[list[str]]:
    """HOSTILE cut into valid name sets of 10 (unique where the format needs it)."""
    pool = [h for h in HOSTILE if h] * 2
    out = []
    while len(out) < MODELS_PER_EXAMPLE:
        chunk: list[str] = []
        for h in pool:
            if len(chunk) < 10 and _unique((chunk + [h] + [f"pad{i}" for i in range(10)])[:10]) and h not in chunk:
                chunk.append(h)
        pool = pool[len(chunk):] + pool[:len(chunk)]
        out.append(chunk)
    return out


@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@example(name_sets=_chunks())
@given(name_sets=st.lists(_model_names, min_size=MODELS_PER_EXAMPLE, max_size=MODELS_PER_EXAMPLE))
def test_hostile_names_compile_and_stay_data(base_model, tmp_path_factory, name_sets):
    d = tmp_path_factory.mktemp("gen")
    files = [_with_names(base_model, d / f"m{i}.tflite", ns) for i, ns in enumerate(name_sets)]
    expected = [sorted(_file_names(f)) for f in files]
    for want, ns in zip(expected, name_sets):
        assert want == sorted(ns)  # the runtime-independent reader sees exactly what we wrote
    _check_python(files, expected, d)
    _check_cpp(files, expected, d)
    _check_c(files, expected, d)
    kotlin_out = _check_kotlin(files, expected, d)  # also compiles the LiteRT CompiledModel declarations javac needs
    _check_java(files, expected, d, kotlin_out)


def _check_python(files: list[Path], expected: list[list[str]], d: Path) -> None:
    for i, (f, want) in enumerate(zip(files, expected)):
        src = d / f"gen_py{i}.py"
        src.write_text(generate_code(f, "python", class_name="Gen"), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"gen_py{i}", src)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        got = []
        for key, inputs, outputs in module.SIGNATURES.values():
            got += [key, *inputs.values(), *outputs]
        assert sorted(got) == want
        assert module.MODEL_FILE == os.path.join(os.path.dirname(os.path.abspath(src)), f.name)  # beside the module


def _java_constants(classpath: str, classes: list[str], d: Path) -> dict[str, list[str]]:
    """{class: [every static String constant]}, read by reflection from the compiled classes."""
    harness = d / "Harness.java"
    harness.write_text(
        "import java.lang.reflect.*;\n"
        "public class Harness { public static void main(String[] args) throws Exception {\n"
        "  for (String c : args) { Class<?> k = Class.forName(c);\n"
        "    for (Field f : k.getDeclaredFields()) {\n"
        "      if (!Modifier.isStatic(f.getModifiers()) || f.getType() != String.class) continue;\n"
        "      f.setAccessible(true); String v = (String) f.get(null); StringBuilder b = new StringBuilder();\n"
        "      for (int i = 0; i < v.length(); i++) b.append(' ').append((int) v.charAt(i));\n"
        "      System.out.println(c + b); } } } }\n")
    subprocess.run(["javac", "-d", str(d), str(harness)], check=True, capture_output=True)
    proc = subprocess.run(["java", "-cp", f"{d}:{classpath}", "Harness", *classes], capture_output=True, text=True, check=True)
    out: dict[str, list[str]] = {c: [] for c in classes}
    for line in proc.stdout.splitlines():
        cls, *units = line.split(" ")
        text = "".join(chr(int(u)) for u in units).encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        out[cls].append(text)
    return out


def _stub_classes(d: Path) -> Path:
    stubs = d / "stubs"
    if not stubs.exists():
        subprocess.run(["javac", "-d", str(stubs), str(STUBS / "java/org/tensorflow/lite/Interpreter.java")], check=True)
    return stubs


def _check_java(files: list[Path], expected: list[list[str]], d: Path, kotlin_out: Path) -> None:
    """Both APIs in one javac run: Gen{i} (Interpreter) and GenC{i} (CompiledModel, against kotlinc's classes)."""
    stubs = _stub_classes(d)
    sources = []
    for i, f in enumerate(files):
        for cls, api in ((f"Gen{i}", "interpreter"), (f"GenC{i}", "compiled-model")):
            src = d / "java" / f"{cls}.java"
            src.parent.mkdir(exist_ok=True)
            src.write_text(generate_code(f, "java", class_name=cls, api=api), encoding="utf-8")
            sources.append(str(src))
    out = d / "java_out"
    classpath = f"{stubs}:{kotlin_out}:{_kotlin_stdlib()}"
    proc = subprocess.run(["javac", "-encoding", "UTF-8", "-Xlint:all", "-Werror", "-cp", classpath, "-d", str(out), *sources],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    classes = [f"{prefix}{i}" for i in range(len(files)) for prefix in ("Gen", "GenC")]
    got = _java_constants(f"{out}:{classpath}", classes, d)
    for i, want in enumerate(expected):
        assert sorted(got[f"Gen{i}"]) == want
        assert sorted(got[f"GenC{i}"]) == want


def _kotlin_stdlib() -> Path | None:
    kotlinc = shutil.which("kotlinc")
    if kotlinc is None:
        return None
    for candidate in (Path(kotlinc).resolve().parent.parent / "lib" / "kotlin-stdlib.jar", Path("/usr/share/java/kotlin-stdlib.jar")):
        if candidate.exists():
            return candidate
    return None


def _check_kotlin(files: list[Path], expected: list[list[str]], d: Path) -> Path:
    """Both APIs and the LiteRT CompiledModel declarations (tests/codegen/stubs/kotlin) in one kotlinc run; returns its classes."""
    if shutil.which("kotlinc") is None:
        pytest.fail("kotlinc not installed: apt-get install kotlin (.ci/run installs Debian's kotlin)")
    stubs = _stub_classes(d)
    sources = [str(p) for p in sorted((STUBS / "kotlin").rglob("*.kt"))]
    packages = []
    for i, f in enumerate(files):
        for package, api in ((f"gen{i}", "interpreter"), (f"genc{i}", "compiled-model")):
            src = d / "kotlin" / package / "Runners.kt"
            src.parent.mkdir(parents=True)
            src.write_text(f"package {package}\n\n" + generate_code(f, "kotlin", api=api), encoding="utf-8")
            sources.append(str(src))
            packages.append((i, package))
    out = d / "kotlin_out"
    proc = subprocess.run(["kotlinc", "-Werror", "-cp", str(stubs), "-d", str(out), *sources], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    stdlib = _kotlin_stdlib()
    assert stdlib is not None, "kotlinc is installed but its kotlin-stdlib.jar was not found"
    for i, package in packages:
        classes = sorted(f"{package}.{p.stem}" for p in (out / package).glob("*Runner.class"))
        got = _java_constants(f"{out}:{stubs}:{stdlib}", classes, d)
        assert sorted(v for values in got.values() for v in values) == expected[i]
    return out


def _check_cpp(files: list[Path], expected: list[list[str]], d: Path) -> None:
    main = ["#include <cstdio>"]
    prints = []
    for i, f in enumerate(files):
        header = d / "cpp" / f"gen{i}.h"
        header.parent.mkdir(exist_ok=True)
        code = generate_code(f, "cpp", class_name=f"gen{i}")
        header.write_text(code, encoding="utf-8")
        main.append(f'#include "gen{i}.h"')
        for cls, const in re.findall(r"class (\w+Runner) \{\n public:\n((?:  static constexpr const char\* \w+ = .*\n)+)", code):
            for ident in re.findall(r"const char\* (\w+) =", const):
                prints.append(f'  Print({i}, gen{i}::{cls}::{ident});')
    main += ["static void Print(int file, const char* s) { std::printf(\"%d\", file);",
             "  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(s); *p; ++p) std::printf(\" %u\", *p);",
             "  std::printf(\"\\n\"); }", "int main() {", *prints, "  return 0;", "}"]
    (d / "cpp" / "main.cc").write_text("\n".join(main) + "\n", encoding="utf-8")
    exe = d / "cpp" / "main"
    # -trigraphs: a '??/' left unescaped would splice the line; -Werror makes any warning fail. Only the
    # constants are used, so nothing from the stub headers needs a definition at link time.
    proc = subprocess.run(["g++", "-std=c++17", "-trigraphs", "-Wall", "-Wextra", "-Werror", f"-I{STUBS / 'cpp'}",
                           "-o", str(exe), str(d / "cpp" / "main.cc")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got: dict[int, list[str]] = {i: [] for i in range(len(files))}
    for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines():
        file, *octets = line.split(" ")
        got[int(file)].append(bytes(int(o) for o in octets).decode("utf-8"))
    for i, want in enumerate(expected):
        assert sorted(got[i]) == want


@pytest.mark.parametrize("name, where", [
    ("abc\n", "character 4 is the control/invisible character U+000A (a line break)"),
    ("a\tb", "character 2 is the control/invisible character U+0009"),
    ("a b", "character 2 is a space"),
    ("x:0", "character 2 is ':'"),
    ("1x", "first character is '1'"),
    ("a\u202eb", "U+202E"),
])
def test_name_rule_says_which_character(name, where):
    why = name_problem(name)
    assert why is not None and where in why


def test_rename_refuses_a_trailing_newline(base_model, tmp_path):
    with pytest.raises(InvalidInput, match="U\\+000A"):
        litesig.rename(base_model, tmp_path / "out.tflite", signatures={"first": "first\n"})
    assert not (tmp_path / "out.tflite").exists()


def test_identifiers_avoid_keywords_and_collide_deterministically():
    scope = Scope("java")
    assert [scope.claim(camel(n), sep="") for n in ["class", "out-a", "out_a", "new", "Encode"]] == ["class2", "outA", "outA2", "new2", "encode"]
    types = Scope("kotlin", fold_case=True)
    assert [types.claim(pascal(n)) for n in ["encode", "Encode", "a.b", "a_b"]] == ["Encode", "Encode_2", "AB", "AB_2"]
    py = Scope("python")
    assert [py.claim(snake(n)) for n in ["self", "np", "lambda", "größe", "日本"]] == ["self_2", "np_2", "lambda_2", "groe", "x"]


def test_absurd_shapes_are_refused(base_model):
    from litesig.codegen import MAX_RANK, _check_shape
    from litesig.tflite.model_info import TensorInfo

    with pytest.raises(LitesigError, match=f"rank <= {MAX_RANK}"):
        _check_shape("s", TensorInfo("x", "float32", [1] * 200_000, "x", 0, None))
    with pytest.raises(LitesigError, match="elements"):
        _check_shape("s", TensorInfo("x", "float32", [65536, 65536], "x", 0, None))


def _check_c(files: list[Path], expected: list[list[str]], d: Path) -> None:
    main = ["#include <stdio.h>"]
    prints = []
    for i, f in enumerate(files):
        header = d / "c" / f"gen{i}.h"
        header.parent.mkdir(exist_ok=True)
        code = generate_code(f, "c", class_name=f"gen{i}")
        header.write_text(code, encoding="utf-8")
        main.append(f'#include "gen{i}.h"')
        prints += [f"  print({i}, {ident});" for ident in re.findall(r"^static const char (\w+)\[\] = ", code, flags=re.M)]
    main += ["static void print(int file, const char* s) { printf(\"%d\", file);",
             "  for (const unsigned char* p = (const unsigned char*)s; *p; ++p) printf(\" %u\", *p);",
             "  printf(\"\\n\"); }", "int main(void) {", *prints, "  return 0;", "}"]
    (d / "c" / "main.c").write_text("\n".join(main) + "\n", encoding="utf-8")
    exe = d / "c" / "main"
    proc = subprocess.run(["gcc", "-std=c99", "-trigraphs", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(d / "c" / "main.c"), "-lm"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got: dict[int, list[str]] = {i: [] for i in range(len(files))}
    for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines():
        file, *octets = line.split(" ")
        got[int(file)].append(bytes(int(o) for o in octets).decode("utf-8"))
    for i, want in enumerate(expected):
        assert sorted(got[i]) == want


def test_typescript_literals_carry_every_hostile_name_byte_for_byte(tmp_path):
    """ts_str: evaluated by node, each literal is the name again (U+2028/9, lone surrogates of astral chars, quotes,
    backslashes, controls, template syntax); a name can never end the literal or the line."""
    import json

    from litesig.codegen.names import literal

    names = [n for n in HOSTILE if "\0" not in n] + ["\u2028\u2029", "${process.exit(3)}", "`", "</script>", "😀é"]
    src = tmp_path / "names.mjs"
    src.write_text("const names = [\n" + "".join(f"  {literal('typescript', n)},\n" for n in names) + "];\n"
                   "console.log(JSON.stringify(names.map((n) => Array.from(n, (c) => c.codePointAt(0)))));\n", encoding="utf-8")
    assert all(ord(c) < 128 for c in src.read_text(encoding="utf-8"))  # ASCII only: no raw line separator reaches the file
    if shutil.which("node") is None:
        pytest.fail("node missing: apt-get install nodejs (.ci/run installs it)")
    proc = subprocess.run(["node", str(src)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = ["".join(chr(c) for c in points) for points in json.loads(proc.stdout)]
    assert got == names
