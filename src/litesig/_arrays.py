"""Small helpers about shapes and arrays that convert, run, bench and verify share."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._io import open_regular
from ._limits import check_array_size, max_npz_bytes, mib, shape_bytes
from .errors import InvalidInput, LitesigError, Problem


def shape_fits(shape: Sequence[int], signature: Sequence[int]) -> bool:
    """Whether `shape` fits a shape signature: same rank, and equal wherever the signature is not -1."""
    return len(shape) == len(signature) and all(want in (-1, got) for got, want in zip(shape, signature))


def load_npz(path: str | os.PathLike[str], where: str = "", wanted: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The arrays of an .npz (no pickles), or InvalidInput naming the file.

    Sizes are checked before anything is inflated (a small .npz can declare gigabytes): the sum of
    the members' declared sizes against LITESIG_MAX_NPZ_MB, each array's header against its member
    and LITESIG_MAX_TENSOR_MB. Only members whose key `wanted` accepts are read.
    """
    import zipfile

    source = os.fspath(path)
    try:
        with open_regular(path, what=".npz file") as f:
            if f.read(6) == b"\x93NUMPY":
                raise ValueError("it holds a single array (np.save); expected named arrays (np.savez)")
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                members = [i for i in zf.infolist() if i.filename.endswith(".npy")]
                declared = sum(i.file_size for i in members)
                if declared > max_npz_bytes():
                    raise ValueError(f"its arrays declare {declared / 2**20:,.0f} MiB, over the limit of "
                                     f"{mib(max_npz_bytes())} (raise it with LITESIG_MAX_NPZ_MB)")
                arrays = {}
                for info in members:
                    key = info.filename[:-4]
                    if wanted is None or wanted(key):
                        with zf.open(info) as member:
                            arrays[key] = _read_npy(member, info.file_size, f"array {key!r}")
                return arrays
    except FileNotFoundError:
        raise InvalidInput(source, [Problem(where, "no such file")]) from None
    except LitesigError:
        raise
    except Exception as e:
        raise InvalidInput(source, [Problem(where, f"not a readable .npz file: {e}")]) from None


def load_npy(path: str | os.PathLike[str], where: str) -> Any:
    """The array of an .npy file (no pickles), its size checked before it is read; or InvalidInput."""
    source = os.fspath(path)
    try:
        with open_regular(path, what=".npy file") as f:
            size = os.fstat(f.fileno()).st_size
            return _read_npy(f, size, "the array")
    except FileNotFoundError:
        raise InvalidInput(source, [Problem(where, "no such file")]) from None
    except LitesigError:
        raise
    except Exception as e:
        raise InvalidInput(source, [Problem(where, f"not a readable .npy file: {e}")]) from None


def _read_npy(stream: Any, stored: int, what: str) -> Any:
    """Read one .npy from a stream after checking its header against what the stream holds and the limits."""
    import numpy as np
    from numpy.lib import format as npformat

    version = npformat.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npformat.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{what}: unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{what}: holds Python objects (pickles), which are not loaded")
    why = check_array_size(shape, dtype.itemsize, what)
    if why:
        raise ValueError(why)
    need = shape_bytes(shape, dtype.itemsize) if all(d > 0 for d in shape) else 0
    if need > stored:
        raise ValueError(f"{what}: its header declares {need:,} bytes of data, the file holds {stored:,}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    data = stream.read(need)
    if len(data) != need:
        raise ValueError(f"{what}: {len(data):,} bytes of data, its header declares {need:,}")
    array = np.frombuffer(data, dtype=dtype, count=count).copy() if count else np.empty(shape, dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, Any], *, shown: str | None = None) -> None:
    """Write arrays as an .npz keyed by name, whatever the names are.

    np.savez(f, **arrays) loses or refuses names that are its own parameters (`file`, `allow_pickle`,
    `args`), so members are written one by one; a name with a path separator, a NUL or `..` cannot
    be a member name and is refused.
    """
    import zipfile

    import numpy as np
    from numpy.lib import format as npformat

    bad = [n for n in arrays if not n or "\0" in n or "\\" in n or n.startswith("/") or ".." in n.split("/")]
    if bad:
        raise InvalidInput(shown or os.fspath(path), [Problem(repr(n)[:100], "cannot be an .npz member name") for n in bad])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                npformat.write_array(member, np.asarray(value), allow_pickle=False)


def array_key(arrays: Mapping[str, Any], signature: str, name: str) -> str | None:
    """The key holding `name`'s array: "<signature>/<name>" if present, else "<name>", else None."""
    for key in (f"{signature}/{name}", name):
        if key in arrays:
            return key
    return None
