"""Rules for signature, input and output names, shared by spec, convert and rename."""

from __future__ import annotations

import re
import unicodedata

# The converter rejects names with spaces, '/' or ':' (they clash with TF tensor naming);
# keep to characters every app language can put in a string literal without escaping.
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]")


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a signature/input/output name, or None if it can. Says which character is wrong."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name:
        return "a name must not be empty"
    if _VALID.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        return None
    shown = name if len(name) <= 80 else name[:77] + "..."
    if not re.fullmatch(r"[A-Za-z_]", name[0]):
        bad, where = name[0], "first character"
    else:
        position = next(i for i, ch in enumerate(name) if not _ALLOWED.fullmatch(ch))
        bad, where = name[position], f"character {position + 1}"
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
