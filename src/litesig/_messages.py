"""Turning a framework's exception (TensorFlow, Keras, LiteRT) into one readable line that keeps what is wrong."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = ("Traceback", "File ", "Arguments received by", "•", "Exception encountered when calling")


def framework_message(e: BaseException, limit: int = 500) -> str:
    """`Type: the lines that say what is wrong`, each once, without colour codes, tracebacks or argument dumps."""
    lines = []
    for line in _ANSI.sub("", str(e)).splitlines():
        line = line.strip()
        if not line or line.startswith(_NOISE):
            continue
        lines.append(line)
    text = " ".join(dict.fromkeys(lines))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
