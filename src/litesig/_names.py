"""Rules for signature, input and output names, shared by spec, convert and rename."""

from __future__ import annotations

import re
import unicodedata

# The converter rejects signature and input names with spaces, '/' or ':' (they become TF op
# names); keep to characters every app language can put in a string literal without escaping.
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]")
# An output name is only a key of the signature's output dict, so TF variable names such as
# 'dense_1/bias:0' (what the on-device training guide's `restore` returns) convert as they are.
_VALID_OUTPUT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/:]*")
_ALLOWED_OUTPUT = re.compile(r"[A-Za-z0-9_.\-/:]")


def name_problem(name: object, *, output: bool = False) -> str | None:
    """Why `name` cannot be a signature/input (or, with `output`, output) name, or None if it can. Says which character is wrong."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name:
        return "a name must not be empty"
    valid, allowed = (_VALID_OUTPUT, _ALLOWED_OUTPUT) if output else (_VALID, _ALLOWED)
    if valid.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        return None
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not re.fullmatch(r"[A-Za-z_]", name[0]):
        bad, where = name[0], "first character"
    else:
        position = next(i for i, ch in enumerate(name) if not allowed.fullmatch(ch))
        bad, where = name[position], f"character {position + 1}"
    if output:
        return (f"invalid name {shown!r}: {where} is {_describe(bad)}; use letters, digits, '_', '.', '-', '/', ':', "
                "starting with a letter or '_'")
    return (
        f"invalid name {shown!r}: {where} is {_describe(bad)}; use letters, digits, '_', '.', '-', starting with a "
        "letter or '_' (spaces, '/' and ':' are rejected by the TFLite converter)"
    )


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    if unicodedata.category(ch).startswith("C"):
        return f"the control/invisible character {code}" + (" (a line break)" if ch in "\n\r\u2028\u2029\x85" else "")
    if ch == " ":
        return f"a space ({code})"
    name = unicodedata.name(ch, "")
    return f"{ch!r} ({code}{', ' + name if name else ''})"


def generic_io_name(tensor_name: str, taken: set[str]) -> str:
    """A valid, unique signature name for a tensor of a file without signatures ('serving_default_x:0' -> 'serving_default_x')."""
    base = re.sub(r":\d+$", "", tensor_name)
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base) or "tensor"
    if not re.match(r"[A-Za-z_]", base):
        base = "t_" + base
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name
