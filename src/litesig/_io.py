"""Reading model bytes from any accepted input, and writing output files atomically."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import LitesigError, OutputExists

def describe(model: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """A short name for messages: the path, or '<N bytes>'."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return f"<{len(model)} bytes>"
    return os.fspath(model)


def read_model_bytes(model: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    """Return the bytes of a model given as a path or as bytes."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    path = Path(model)
    try:
        with open_regular(path) as f:
            return f.read()
    except OSError as e:
        raise unreadable(path, e) from None


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def open_regular(path: str | os.PathLike[str], kind: type[LitesigError] = LitesigError, *, max_bytes: int | None = None,
                 what: str = "file") -> BinaryIO:
    """Open a regular file for reading, refusing FIFOs, devices and sockets before reading a byte.

    The open is non-blocking, so a FIFO is refused instead of waiting forever for a writer;
    /dev/zero and the like are refused instead of read without end. `max_bytes` caps the size.

    Raises:
        OSError: the file cannot be opened (callers turn it into their own message).
        kind: the path is not a regular file, or is larger than max_bytes.
    """
    fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            sort = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise kind(f"{path}: is {sort}, expected a regular {what}")
        if max_bytes is not None and st.st_size > max_bytes:
            raise kind(f"{path}: {st.st_size:,} bytes, more than the {max_bytes:,} a {what} may have")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike[str], max_bytes: int, what: str) -> str:
    """The UTF-8 text of a regular file of at most max_bytes (OSError / UnicodeDecodeError pass through)."""
    with open_regular(path, max_bytes=max_bytes, what=what) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LitesigError(f"{path}: more than the {max_bytes:,} bytes a {what} may have")
    return data.decode("utf-8")


def unreadable(path: Path, error: OSError, kind: type[LitesigError] = LitesigError) -> LitesigError:
    """The error to raise when a model file cannot be opened."""
    if isinstance(error, FileNotFoundError):
        return kind(f"{path}: no such file")
    if isinstance(error, IsADirectoryError):
        return kind(f"{path}: is a directory, expected a .tflite file")
    return kind(f"{path}: cannot read: {error.strerror}")


def check_writable(path: str | os.PathLike[str], *, force: bool) -> Path:
    """Refuse to overwrite an existing file unless force; return the path."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExists(str(path))
    if path.is_dir():
        raise LitesigError(f"{path}: is a directory; give a file name such as {path / 'model.tflite'}")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None] | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename over it: never a partial file.

    `write` is either the bytes to write, or a function that fills the temporary path.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if isinstance(write, (bytes, bytearray)):
            with os.fdopen(fd, "wb") as f:
                f.write(write)
        else:
            os.close(fd)
            write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Capture what C++ code writes to fd 2 (converter logs, LiteRT's INFO lines); yields a reader of it."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (embedded interpreters): capture nothing
            yield lambda: ""
            return
        os.dup2(sink.fileno(), 2)

        def read() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", errors="replace")

        try:
            yield read
        finally:
            os.dup2(saved, 2)
            os.close(saved)
