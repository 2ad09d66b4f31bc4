"""Importing the user's own Python files (custom layers and models) before models load.

Importing a file runs it, so litesig does this only when asked (`--code FILE.py`, spec
`code = [...]`) and only with the same consent as `--unsafe`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import LitesigError


def import_user_code(paths: Sequence[Path]) -> None:
    """Import each file as its own module (named after its path), in the order given."""
    for path in paths:
        path = Path(path)
        if not path.is_file() or path.suffix != ".py":
            raise LitesigError(f"{path}: --code expects an existing Python file (.py)")
        name = f"litesig_user_{path.stem}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LitesigError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            text = str(e).strip()
            raise LitesigError(f"{path}: importing it failed: {type(e).__name__}: {text.splitlines()[0] if text else ''}") from None
