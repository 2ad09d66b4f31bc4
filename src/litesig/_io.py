"""Reading model bytes from any accepted input, and writing output files atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import InvalidInput, LitesigError, OutputExists, Problem

def describe(model: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """A short name for messages: the path, or '<N bytes>'."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return f"<{len(model)} bytes>"
    return os.fspath(model)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    """What a file that is not regular is, for a message ('a FIFO (named pipe)', 'a directory', ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


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
            raise kind(f"{path}: is {_kind(st.st_mode)}, expected a regular {what}")
        if max_bytes is not None and st.st_size > max_bytes:
            raise kind(f"{path}: {st.st_size:,} bytes, more than the {max_bytes:,} a {what} may have")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def source_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a Keras file or SavedModel directory cannot be a source, checked before Keras or TensorFlow opens it; None if it can.

    Regular files and directories only: a FIFO would block Keras forever, /dev/zero would be read
    until memory runs out. A SavedModel's saved_model.pb must be a regular file too.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file or directory"
    except OSError as e:  # a name too long, a loop of links, no permission
        return f"cannot read: {e.strerror or e}"
    if stat.S_ISDIR(st.st_mode):
        pb = os.path.join(path, "saved_model.pb")
        try:
            pb_mode = os.stat(pb).st_mode
        except FileNotFoundError:
            return None  # the loader says it is not a SavedModel, naming what it lacks
        except OSError as e:
            return f"cannot read saved_model.pb: {e.strerror or e}"
        if not stat.S_ISREG(pb_mode):
            return f"its saved_model.pb is {_kind(pb_mode)}, expected a regular file"
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"is {_kind(st.st_mode)}, expected a .keras/.h5 file or a SavedModel directory"
    return None


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


def check_writable(path: str | os.PathLike[str], *, force: bool,
                   inputs: Sequence[str | os.PathLike[str] | bytes | bytearray | memoryview] = ()) -> Path:
    """Refuse to overwrite an existing file unless force, to write over (or into) any of `inputs`, or through a
    dangling symlink (which would write to wherever it points); return the path."""
    path = Path(path)
    try:
        exists, is_dir, is_link = path.exists(), path.is_dir(), path.is_symlink()
    except OSError as e:  # e.g. a name too long
        raise unwritable(path, e) from None
    if is_link and not exists:
        raise InvalidInput(str(path), [Problem("output", f"is a symlink to a missing file ({os.readlink(path)}): writing "
                                                         "would create that file instead; give another name or remove the link")])
    clash = overwrites_input(path, inputs)
    if clash is not None:
        raise InvalidInput(str(path), [Problem("output", clash)])
    if exists and not force:
        raise OutputExists(str(path))
    if is_dir:
        raise LitesigError(f"{path}: is a directory; give a file name such as {path / 'model.tflite'}")
    return path


def overwrites_input(path: str | os.PathLike[str], inputs: Sequence[object]) -> str | None:
    """Why writing `path` would destroy one of `inputs` (the same file after resolving links, or a file inside an
    input folder such as a SavedModel); None if it would not."""
    target = os.path.realpath(path)
    for given in inputs:
        if not isinstance(given, (str, os.PathLike)):
            continue  # bytes: nothing on disk to overwrite
        source = os.path.realpath(given)
        if target == source:
            return f"is the input {os.fspath(given)}; writing it would destroy what is being read"
        if os.path.isdir(source) and target.startswith(source.rstrip(os.sep) + os.sep):
            return f"is inside the input folder {os.fspath(given)}; write the output elsewhere"
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "a folder on the path does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
}


def unwritable(path: str | os.PathLike[str], error: OSError) -> LitesigError:
    """The message for a failed write: the path and the cause, in words."""
    cause = _WRITE_ERRORS.get(error.errno or 0, error.strerror or str(error))
    return LitesigError(f"{os.fspath(path)}: cannot write: {cause}; nothing was written")


def _tmp_prefix(target: Path) -> str:
    return f".{target.name[:80]}.litesig-{os.getpid()}-"


def _clean_stale(target: Path) -> None:
    """Remove temporary files that an interrupted litesig (a dead pid) left beside `target`."""
    prefix = f".{target.name[:80]}.litesig-"
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def temp_dir_prefix() -> str:
    """Prefix for a run's temporary folder ("litesig-<pid>-"); folders of dead runs are removed first."""
    import shutil
    import tempfile

    base = tempfile.gettempdir()
    try:
        entries = list(os.scandir(base))
    except OSError:
        entries = []
    for entry in entries:
        parts = entry.name.split("-")
        if len(parts) >= 3 and parts[0] == "litesig" and parts[1].isdigit() and entry.is_dir(follow_symlinks=False):
            pid = int(parts[1])
            if pid != os.getpid() and not _alive(pid) and entry.stat(follow_symlinks=False).st_uid == os.getuid():
                shutil.rmtree(entry.path, ignore_errors=True)
    return f"litesig-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None] | bytes, *, replace: bool = False) -> Path:
    """Write to a temporary file beside the target, then move it into place: never a partial file.

    `write` is either the bytes to write, or a function that fills the temporary path.
    By default (`replace=False`) the target is created only if it does not exist, atomically (a hard link of the
    finished temporary file, which fails if the name is taken): of two concurrent writers
    without --force, the second gets OutputExists instead of silently overwriting the first.
    When an existing file is replaced, it keeps its mode and owner, and a symlink is written
    through (its target is replaced; the link stays). Temporary files of interrupted runs are
    removed. OS errors (disk full, read-only, name too long) become a LitesigError naming the cause.
    """
    import tempfile

    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path  # write through a symlink
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(target)
        try:
            keep: os.stat_result | None = os.stat(target) if replace else None
        except FileNotFoundError:
            keep = None
        fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(target), suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise unwritable(path, e) from None
    tmp = Path(tmp_name)
    try:
        if isinstance(write, (bytes, bytearray)):
            with os.fdopen(fd, "wb") as f:
                f.write(write)
                f.flush()
                os.fsync(f.fileno())
        else:
            os.close(fd)
            write(tmp)
        if keep is not None:  # an existing file keeps its mode and owner
            os.chmod(tmp, stat.S_IMODE(keep.st_mode))
            if hasattr(os, "chown") and (keep.st_uid, keep.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, keep.st_uid, keep.st_gid)
        else:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        if replace:
            os.replace(tmp, target)
        else:
            _create_from(tmp, target, path)
    except OSError as e:
        raise unwritable(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _create_from(tmp: Path, target: Path, shown: Path) -> None:
    """Give the finished `tmp` the name `target` only if no file has it (atomic where links exist)."""
    try:
        os.link(tmp, target)
        return
    except FileExistsError:
        raise OutputExists(str(shown)) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
    try:  # no hard links here (FAT, some network/FUSE file systems): claim the name, then move over our own claim
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise OutputExists(str(shown)) from None
    os.replace(tmp, target)


@contextlib.contextmanager
def captured_stderr(*, stdout: bool = False) -> Iterator[Callable[[], str]]:
    """Capture what C++ code writes to fd 2 (converter logs, LiteRT's INFO lines); yields a reader of it.

    With `stdout`, fd 1 too: LiteRT's GPU environment prints a line there, which would corrupt `--json`.
    """
    import sys
    import tempfile

    fds = (2, 1) if stdout else (2,)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            if stdout:
                sys.stdout.flush()
            saved = {fd: os.dup(fd) for fd in fds}
        except OSError:  # no fd 2 (embedded interpreters): capture nothing
            yield lambda: ""
            return
        for fd in fds:
            os.dup2(sink.fileno(), fd)

        def read() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", errors="replace")

        try:
            yield read
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
