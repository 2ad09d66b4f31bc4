"""Rules for signature, input and output names, shared by spec, convert and rename."""

from __future__ import annotations

import re

# The converter rejects names with spaces, '/' or ':' (they clash with TF tensor naming);
# keep to characters every app language can put in a string literal without escaping.
_VALID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a signature/input/output name, or None if it can."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name:
        return "a name must not be empty"
    if not _VALID.match(name):
        return (
            f"invalid name {name!r}: use letters, digits, '_', '.', '-', starting with a letter "
            "or '_' (spaces, '/' and ':' are rejected by the TFLite converter)"
        )
    return None
