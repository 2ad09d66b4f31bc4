"""Resource limits for hostile inputs, each overridable by an environment variable.

A small file can declare a huge tensor; a small .npz can inflate to gigabytes. Every size that
litesig would allocate from a file's say-so is checked against these limits first:

| variable | default | what it bounds |
|---|---|---|
| LITESIG_MAX_TENSOR_MB | 1024 | one tensor as a shape declares it (dynamic dims = 1), one input array |
| LITESIG_MAX_NPZ_MB | 4096 | the sum of an .npz's members, by their declared (uncompressed) sizes |
| LITESIG_MAX_MEMORY_MB | 4096 | memory LiteRT may add while a model is first loaded and run (isolated check) |
| LITESIG_MAX_TEXT_MB | 16 | a spec or names file (TOML) |
| LITESIG_MAX_ASSOCIATED_MB | 256 | what follows a model in its file (associated files: a zip), and their declared inflated sizes |
| LITESIG_MAX_SIGNATURES | 10000 | signatures of a model given to LiteRT (its loader is quadratic in them: 100,000 take minutes) |
| LITESIG_PROBE_TIMEOUT | 120 | seconds the isolated first load/run of a model may take |
| LITESIG_ISOLATE | 1 | 0 runs LiteRT only in-process (no crash isolation) |
"""

from __future__ import annotations

import os

MAX_RANK = 16  # no real model has more; numpy stops at 64


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def max_tensor_bytes() -> int:
    return int(_env("LITESIG_MAX_TENSOR_MB", 1024) * 2**20)


def max_npz_bytes() -> int:
    return int(_env("LITESIG_MAX_NPZ_MB", 4096) * 2**20)


def max_memory_bytes() -> int:
    return int(_env("LITESIG_MAX_MEMORY_MB", 4096) * 2**20)


def max_text_bytes() -> int:
    return int(_env("LITESIG_MAX_TEXT_MB", 16) * 2**20)


def max_associated_bytes() -> int:
    return int(_env("LITESIG_MAX_ASSOCIATED_MB", 256) * 2**20)


def max_signatures() -> int:
    return int(_env("LITESIG_MAX_SIGNATURES", 10000))


def probe_timeout() -> float:
    return _env("LITESIG_PROBE_TIMEOUT", 120.0)


def isolate() -> bool:
    return os.environ.get("LITESIG_ISOLATE", "1").strip() != "0"


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def shape_bytes(shape: tuple[int, ...] | list[int], itemsize: int) -> int:
    """Bytes of a dense tensor of this shape (dynamic -1 dims count as 1); exact, no overflow."""
    n = max(1, itemsize)
    for d in shape:
        n *= max(1, int(d)) if d != 0 else 0
        if n == 0:
            return 0
    return n


def check_array_size(shape: tuple[int, ...] | list[int], itemsize: int, where: str) -> str | None:
    """Why an array of this shape may not be allocated, or None."""
    if len(shape) > MAX_RANK:
        return f"rank {len(shape)} is more than {MAX_RANK}"
    if any(int(d) < 0 for d in shape):
        return f"negative size in shape {list(shape)}"
    n = shape_bytes(shape, itemsize)
    if n > max_tensor_bytes():
        return (f"{where} would take {n / 2**20:,.0f} MiB, over the limit of {mib(max_tensor_bytes())} "
                f"(raise it with LITESIG_MAX_TENSOR_MB)")
    return None
