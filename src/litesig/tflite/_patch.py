"""Byte-level helpers shared by the in-place edits of a .tflite (rename, add-signature).

Both copy the untouched bytes with the kernel's fast paths, fix the absolute offsets of data
stored past the flatbuffer, and re-read what they wrote before it takes the target's name.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from ..errors import LitesigError
from . import flatbuffer as fb


def check_written(path: Path, after: Mapping[str, Mapping[str, list[str]]], source: str) -> None:
    """Re-read the written file; refuse it unless it parses with exactly the intended names."""
    try:
        m = fb.read_model(path)
    except LitesigError as e:
        raise LitesigError(f"{source}: the renamed file would not parse ({e}); nothing was written") from None
    got = {s.key: {"inputs": [t.name for t in s.inputs], "outputs": [t.name for t in s.outputs]} for s in m.signatures}
    want = {k: {"inputs": list(v.get("inputs", [])), "outputs": list(v.get("outputs", []))} for k, v in after.items()}
    if got != want:
        raise LitesigError(f"{source}: the renamed file does not have the intended names (shared or unusual "
                           f"structure); nothing was written")


def reserve(dst: BinaryIO, size: int) -> None:
    """Allocate the new file's blocks before writing it, where the file system can (posix_fallocate); its size is
    then `size` at once, so write from the start and end with `dst.truncate()` at the last byte written.

    A full disk is then refused at once, before 200 MB are copied. And on ext4, a file whose blocks are
    allocated is not flushed when it replaces another (auto_da_alloc flushes delayed-allocation blocks):
    replacing a 200 MB model took 140 ms in the rename(2) call alone. Durability is the same as cp's: the
    kernel writes the data back as for any write; nothing here promises it reached the disk (no fsync).
    """
    if not hasattr(os, "posix_fallocate") or size <= 0:
        return
    try:
        os.posix_fallocate(dst.fileno(), 0, size)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise  # write_atomic turns it into "cannot write ...: no space left"
        # EOPNOTSUPP/EINVAL where neither the file system nor the C library's emulation (a byte written per block)
        # can: copying allocates as it goes


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """Copy `length` bytes from `offset` of src to dst at its position (then after them): in the kernel where it can."""
    dst.flush()
    done = 0
    out_pos = dst.tell()
    if hasattr(os, "copy_file_range"):
        try:
            while done < length:
                n = os.copy_file_range(src.fileno(), dst.fileno(), length - done, offset + done, out_pos + done)
                if n == 0:
                    break
                done += n
        except OSError:  # e.g. across file systems on old kernels: fall back to reading
            pass
    src.seek(offset + done)
    dst.seek(out_pos + done)
    while done < length:
        chunk = src.read(min(length - done, 16 * 1024 * 1024))
        if not chunk:
            raise LitesigError("the model changed while it was being renamed")
        dst.write(chunk)
        done += len(chunk)
    dst.flush()


def absolute_offsets(m: fb.Model) -> list[tuple[int, int]]:
    """(field position, value) of every offset that points past the flatbuffer, from the parsed model."""
    fields = [(b.offset_field, b.offset) for b in m.buffers if b.offset > 1]
    fields += [(op.large_custom_options_field, op.large_custom_options_offset)
               for sg in m.subgraphs for op in sg.operators if op.large_custom_options_offset > 1]
    return fields
