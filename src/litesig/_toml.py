"""TOML files (specs, rename and merge maps) read as hostile input: bounded, regular files, every failure a message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ._io import read_text
from ._limits import max_text_bytes
from .errors import InvalidInput, LitesigError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table: a regular file of sane size (LITESIG_MAX_TEXT_MB), or InvalidInput saying why."""

    try:
        return tomllib.loads(read_text(path, max_text_bytes(), "TOML file"))
    except FileNotFoundError:
        raise InvalidInput(str(path), [Problem("", "no such file")]) from None
    except IsADirectoryError:
        raise InvalidInput(str(path), [Problem("", "is a directory, expected a TOML file")]) from None
    except OSError as e:
        raise InvalidInput(str(path), [Problem("", f"cannot read: {e.strerror or e}")]) from None
    except UnicodeDecodeError as e:
        raise InvalidInput(str(path), [Problem("", f"not UTF-8 text: {e}")]) from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(str(path), [Problem("", f"not valid TOML: {e}")]) from None
    except RecursionError:
        raise InvalidInput(str(path), [Problem("", "not valid TOML: nested too deeply")]) from None
    except LitesigError as e:  # a FIFO, a device, too large
        raise InvalidInput(str(path), [Problem("", str(e).removeprefix(f"{path}: "))]) from None
