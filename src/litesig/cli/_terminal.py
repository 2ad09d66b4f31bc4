"""The one way text from a file reaches a terminal, and the one way results become JSON.

Names and paths come from hostile files. Printed raw, an ESC sequence can rewrite the screen or
forge a hyperlink (OSC 8), CR and BS can overwrite what was printed, bidi overrides can make
`evil\u202egnp.exe` read as `evilexe.png`, and `[/]` is rich markup (which raised MarkupError).
`for_terminal` makes every such character visible as an escape (`\\x1b`, `\\u202e`), escapes
rich markup, and cuts very long text, so a 32 MB name costs a line, not minutes.

JSON output stays strict (RFC 8259): NaN and infinities, which `json` would write as bare
`NaN`/`Infinity` literals most parsers reject, are written as null (NaN) and the strings "inf"
and "-inf" (the convention verify's report already used).
"""

from __future__ import annotations

import math
import re
from typing import Any

NAME_LIMIT = 200  # characters of one name or path shown; the rest is counted
LINE_LIMIT = 4000  # characters of one line of a message
LINES_LIMIT = 60  # lines of one message

# C0 controls (but newline, which callers split on), DEL, C1 controls, bidi controls and marks,
# zero-width characters and the BOM: all invisible or able to move the cursor or reorder text.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")


def _visible(match: re.Match[str]) -> str:
    c = ord(match.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: str, limit: int = NAME_LIMIT) -> str:
    """Text with every control/invisible character (newlines too) shown as an escape, cut to `limit`."""
    text = str(text)
    cut = ""
    if len(text) > limit:
        cut, text = f"... ({len(text):,} characters)", text[:limit]
    return _UNSAFE.sub(_visible, text.replace("\n", "\\n")) + cut


def for_terminal(text: object, limit: int = NAME_LIMIT) -> str:
    """A name or path made safe to print with rich: controls visible, markup escaped, length cut."""
    from rich.markup import escape

    return escape(visible(str(text), limit))


def message_for_terminal(text: object) -> str:
    """A multi-line message (an error): each line made safe, very long lines and messages cut."""
    lines = str(text).split("\n")
    more = f"\n... ({len(lines) - LINES_LIMIT} more lines)" if len(lines) > LINES_LIMIT else ""
    return "\n".join(for_terminal(line, LINE_LIMIT) for line in lines[:LINES_LIMIT]) + more


def strict_json(data: Any) -> str:
    """JSON text with no NaN/Infinity literals (NaN -> null, infinities -> "inf"/"-inf").

    Indented for people, except documents over 1 MB (a 4M-dim shape), which stay compact: Python's
    indenting encoder is pure Python and takes a minute where the compact one takes a second.
    """
    import json  # here: only --json runs need it

    try:
        compact = json.dumps(data, default=str, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or an infinity somewhere
        data = _finite(data)
        compact = json.dumps(data, default=str, allow_nan=False, separators=(",", ":"))
    if len(compact) > 1_000_000:
        return compact
    return json.dumps(data, indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
