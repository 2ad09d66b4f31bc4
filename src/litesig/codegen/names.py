"""Names from a .tflite file in generated source: escaped as data, never pasted as code.

A .tflite may come from anyone, and its signature, input and output names are arbitrary UTF-8.
They reach generated code in exactly three forms, each made here and nowhere else:

- a **string literal** of the target language (`literal(lang, name)`): the only form that carries
  the real name, byte for byte, to the runtime;
- an **identifier** (`Scope.claim`): derived from the name's ASCII letters and digits, never
  a keyword, a reserved or shadowing name, or a name already taken in its scope (deterministic
  numeric suffixes, in file order); class names can also be unique ignoring case;
- **comment text** (`comment_text`): the name percent-encoded down to `[A-Za-z0-9_.-]`, so no
  comment or docstring can be closed, spliced or unicode-escaped by a name.

The generated code documents each identifier's real name with a constant holding its literal.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from collections.abc import Iterable

from ..errors import LitesigError

# --- string literals -------------------------------------------------------------------------

_SAFE_ASCII = {chr(c) for c in range(0x20, 0x7F)}


def python_str(text: str) -> str:
    """A Python string literal for `text`: ASCII only, every quote, backslash and control escaped."""
    return ascii(text)


def java_str(text: str) -> str:
    r"""A Java string literal for `text`.

    Java turns `\uXXXX` into characters *before* lexing (so `\u000a` in a literal is a line break),
    hence: controls and DEL as 3-digit octal, non-ASCII as `\u` escapes of UTF-16 units (never
    a control or quote), and a backslash doubled, which makes a following `u` inert.
    """
    out = ['"']
    for ch in text:
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _SAFE_ASCII:
            out.append(ch)
        elif c < 0x80:
            out.append(f"\\{c:03o}")
        else:
            out.extend(f"\\u{unit:04x}" for unit in _utf16(c))
    out.append('"')
    return "".join(out)


def _u_escaped(text: str, backslashed: str) -> str:
    r"""A double-quoted literal: the characters in `backslashed` after a backslash, printable ASCII as itself, everything
    else as `\uXXXX` UTF-16 units (so no control, U+2028 or U+2029 can end a line or the literal)."""
    out = ['"']
    for ch in text:
        if ch in backslashed:
            out.append("\\" + ch)
        elif ch in _SAFE_ASCII:
            out.append(ch)
        else:
            out.extend(f"\\u{unit:04x}" for unit in _utf16(ord(ch)))
    out.append('"')
    return "".join(out)


def kotlin_str(text: str) -> str:
    r"""A Kotlin string literal for `text`: `$` escaped (no templates), everything else non-printable as `\uXXXX`."""
    return _u_escaped(text, '"\\$')


def ts_str(text: str) -> str:
    r"""A TypeScript/JavaScript string literal for `text`: quote and backslash escaped, everything outside printable
    ASCII as `\uXXXX` UTF-16 units (so U+2028, U+2029 and controls never end a line or a literal)."""
    return _u_escaped(text, '"\\')


def c_str(text: str) -> str:
    r"""A C/C++ string literal holding `text`'s UTF-8 bytes.

    Every byte outside printable ASCII is a 3-digit octal escape (an octal escape stops after three
    digits; a hex escape would swallow following hex digits), `?` is escaped (no trigraphs), and
    quote and backslash are escaped. NUL cannot be carried: C strings end at it.
    """
    if "\0" in text:
        raise LitesigError(f"the name {comment_text(text)!r} holds a NUL character, which a C string cannot carry")
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif ch in _SAFE_ASCII:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def _utf16(code: int) -> list[int]:
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]


_LITERALS = {"python": python_str, "java": java_str, "kotlin": kotlin_str, "cpp": c_str, "c": c_str, "typescript": ts_str}


def literal(lang: str, text: str) -> str:
    """`text` as a string literal of `lang` (python, java, kotlin, cpp, c)."""
    return _LITERALS[lang](text)


_COMMENT_SAFE = re.compile(r"[A-Za-z0-9_.\-]")


def comment_text(text: str) -> str:
    """`text` for a comment or docstring: bytes outside [A-Za-z0-9_.-] percent-encoded (reversible)."""
    return "".join(ch if _COMMENT_SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
                   for ch in text)


# --- identifiers ------------------------------------------------------------------------------

_PYTHON = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {
    "self", "cls", "np", "threading", "Interpreter", "annotations", "inputs", "outputs", "values", "info", "signature",
}
_JAVA = {
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class", "const", "continue", "default",
    "do", "double", "else", "enum", "extends", "final", "finally", "float", "for", "goto", "if", "implements", "import",
    "instanceof", "int", "interface", "long", "native", "new", "package", "private", "protected", "public", "return",
    "short", "static", "strictfp", "super", "switch", "synchronized", "this", "throw", "throws", "transient", "try",
    "void", "volatile", "while", "true", "false", "null", "var", "yield", "record", "sealed", "permits", "when",
    "exports", "module", "open", "opens", "provides", "requires", "to", "transitive", "uses", "with",
    # what the generated code itself names
    "interpreter", "inputs", "outputs", "batch", "real", "q", "Map", "HashMap", "String", "Object", "Interpreter",
    "Math", "Override", "System", "Integer", "Float", "Byte", "Short", "Long", "Boolean", "Double",
    "CompiledModel", "TensorBuffer", "LiteRtException", "LinkedHashMap", "IllegalArgumentException",
}
_KOTLIN = {
    "as", "break", "class", "continue", "do", "else", "false", "for", "fun", "if", "in", "interface", "is", "null",
    "object", "package", "return", "super", "this", "throw", "true", "try", "typealias", "typeof", "val", "var", "when",
    "while", "by", "catch", "constructor", "delegate", "dynamic", "field", "file", "finally", "get", "import", "init",
    "param", "property", "receiver", "set", "setparam", "value", "where", "it",
    "interpreter", "inputs", "outputs", "batch", "real", "q", "inputMap", "outputMap", "run", "Outputs", "SIGNATURE",
    "Interpreter", "Any", "Array", "String", "Float", "Byte", "Int", "Long", "Short", "Boolean", "Math", "Companion",
    "CompiledModel", "TensorBuffer", "LiteRtException", "LinkedHashMap", "IllegalArgumentException",
}
_C = {
    "alignas", "alignof", "and", "and_eq", "asm", "atomic_cancel", "atomic_commit", "atomic_noexcept", "auto", "bitand",
    "bitor", "bool", "break", "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
    "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield",
    "decltype", "default", "delete", "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern",
    "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept",
    "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "reflexpr", "register",
    "reinterpret_cast", "requires", "restrict", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "synchronized", "template", "this", "thread_local", "throw", "true", "try",
    "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while",
    "xor", "xor_eq", "final", "override", "import", "module", "_Bool", "_Complex", "_Imaginary", "typeof",
    # macros and names from the headers the generated code includes
    "assert", "errno", "offsetof", "setjmp", "va_arg", "va_start", "va_end", "va_copy", "stdin", "stdout", "stderr",
    "linux", "unix", "i386", "major", "minor", "makedev", "complex", "imaginary", "noreturn", "alloca", "NULL", "EOF",
    "memcpy", "memset", "malloc", "free", "size_t", "std", "tflite", "out", "status", "model", "batch", "runner_",
    "shape", "index", "count", "bytes", "buffer", "buffers", "q", "real", "tensor", "result", "in", "m", "d", "dims", "sig", "key", "name", "host", "packed", "req", "type", "i", "j", "n",
}
_TS = {
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else", "enum", "export",
    "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof", "new", "null", "return", "super",
    "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with", "as", "implements", "interface",
    "let", "package", "private", "protected", "public", "static", "yield", "any", "boolean", "constructor", "declare",
    "get", "module", "require", "number", "set", "string", "symbol", "type", "from", "of", "async", "await", "never",
    "unknown", "object", "undefined", "readonly", "keyof", "infer", "is", "asserts", "abstract", "accessor", "namespace",
    "override", "satisfies", "out", "arguments", "eval", "NaN", "Infinity", "globalThis",
    # what the generated code itself names
    "Tensor", "CompiledModel", "CompileOptions", "loadAndCompile", "Math", "Object", "Error", "Record", "Promise", "String",
    "Float32Array", "Int32Array", "Uint8Array", "Array", "SIGNATURES", "MODEL_FILE", "quantize", "dequantize", "checked",
    "output",
}
_KEYWORDS = {"python": _PYTHON, "java": _JAVA, "kotlin": _KOTLIN, "cpp": _C, "c": _C, "typescript": _TS}


def keywords(lang: str) -> frozenset[str]:
    """The words an identifier of `lang` may not be (keywords and the names the generated code uses)."""
    return frozenset(_KEYWORDS[lang])


def words(name: str) -> list[str]:
    """The ASCII words of `name`: accents dropped (NFKD), split at non-alphanumerics and lower->Upper changes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", ascii_name) if w]


def snake(name: str, fallback: str = "x") -> str:
    out = "_".join(w.lower() for w in words(name)) or fallback
    return out if not out[0].isdigit() else f"{fallback}_{out}"


def pascal(name: str, fallback: str = "Model") -> str:
    out = "".join(w[:1].upper() + w[1:] for w in words(name)) or fallback
    return out if not out[0].isdigit() else f"{fallback}{out}"


def camel(name: str, fallback: str = "x") -> str:
    p = pascal(name, fallback.capitalize())
    return p[:1].lower() + p[1:]


class Scope:
    """Identifiers of one namespace of generated code: claimed in file order, each unique.

    Args:
        lang: whose keywords and reserved names to avoid.
        taken: identifiers already used in this namespace.
        fold_case: also unique ignoring case (class names that become files on case-insensitive disks).
    """

    def __init__(self, lang: str, taken: Iterable[str] = (), *, fold_case: bool = False) -> None:
        self._reserved = _KEYWORDS[lang]
        self._fold = fold_case
        self._taken: set[str] = set()
        for t in taken:
            self._taken.add(self._key(t))

    def _key(self, ident: str) -> str:
        return ident.lower() if self._fold else ident

    def claim(self, ident: str, *, sep: str = "_") -> str:
        """`ident`, or `ident` + sep + 2, 3, ... if it is reserved or taken; then taken."""
        candidate, n = ident, 1
        while candidate in self._reserved or self._key(candidate) in self._taken or (self._fold and candidate.lower() in self._reserved):
            n += 1
            candidate = f"{ident}{sep}{n}"
        self._taken.add(self._key(candidate))
        return candidate
