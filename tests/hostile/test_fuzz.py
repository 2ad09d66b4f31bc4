"""A seeded mutation fuzzer over real .tflite files, through every TF-free command.

The seeds are files the real converter made (the session's `converted` fixture: float32, float16,
int8, two signatures, a multi-output model) and one laid out as TFLite Support's metadata writer
leaves it (metadata and an appended zip of labels). Each mutant is one seed with a few seeded
edits of the kinds that break readers: bit flips, bytes set to 0/0xFF, 32-bit words set to
boundary values (the flatbuffer's offsets and lengths are 32-bit words), truncation, a duplicated
chunk. Each mutant goes through one command, in rotation, in a forked child of the hostile
suite's driver, and must keep every rule of that suite: exit 0/1/2, no traceback, no hang, bounded
memory, strict JSON, nothing written on failure, written files parse again.

LITESIG_FUZZ_CASES sets the number of mutants (default 1,200, about a minute on 2 cores);
LITESIG_FUZZ_SEED the seed (default 0). A failure names the seed, the case and the edits, so it
can be replayed.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from tests._packed import pack
from tests.hostile.test_hostile import check, drive

CASES_N = int(os.environ.get("LITESIG_FUZZ_CASES", "1200"))
SEED = int(os.environ.get("LITESIG_FUZZ_SEED", "0"))
BOUNDARY = (0, 1, 2, 4, 7, 8, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """A few seeded edits of `data`, and what they were."""
    out = bytearray(data)
    edits = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(("flip", "flip", "byte", "word", "word", "word", "truncate", "duplicate"))
        n = len(out)
        if n < 16:
            break
        at = rng.randrange(n)
        if kind == "flip":
            bit = rng.randrange(8)
            out[at] ^= 1 << bit
            edits.append(f"flip bit {bit} at {at}")
        elif kind == "byte":
            value = rng.choice((0, 0xFF, rng.randrange(256)))
            out[at] = value
            edits.append(f"byte {value:#x} at {at}")
        elif kind == "word":
            at -= at % 4
            at = min(at, n - 4)
            value = rng.choice(BOUNDARY + (n, n - 4, n + 4, rng.randrange(2**32)))
            struct.pack_into("<I", out, at, value & 0xFFFFFFFF)
            edits.append(f"word {value:#x} at {at}")
        elif kind == "truncate":
            keep = rng.randrange(8, n)
            del out[keep:]
            edits.append(f"truncate to {keep}")
        else:
            length = rng.randrange(1, min(256, n - at) + 1)
            out[at:at] = out[at:at + length]
            edits.append(f"duplicate {length} bytes at {at}")
    return bytes(out), edits


@pytest.fixture(scope="module")
def seeds(converted, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz_seeds")
    files = {name: Path(converted[name]) for name in ("seed", "seed_f16", "seed_int8", "coder", "multi")}
    files["packed"] = pack(Path(converted["seed"]), d / "packed.tflite")
    return files


def _commands(mutant: Path, valid: Path, out: Path) -> list[tuple[list[str], Path | None]]:
    m, v = str(mutant), str(valid)
    return [
        (["inspect", m, "--json"], None),
        (["inspect", m], None),
        (["run", m, "--random", "--json"], None),
        (["rename", m, "-o", str(out), "--signature", "serving_default=renamed", "--tensor-names"], out),
        (["rename", m, "-o", str(out), "--add-signature", "added"], out),
        (["merge", m, v, "-o", str(out)], out),
        (["codegen", m, "--lang", "python", "-o", str(out.with_suffix(".py"))], out.with_suffix(".py")),
        (["verify", m, "--against", v, "--json"], None),
        (["bench", m, "--runs", "2", "--warmup", "0", "--json"], None),
    ]


def test_mutants_of_real_files_through_every_command(seeds, tmp_path):
    rng = random.Random(SEED)
    names = sorted(seeds)
    contents = {name: seeds[name].read_bytes() for name in names}
    valid = seeds["seed"]
    jobs = []
    for k in range(CASES_N):
        name = names[k % len(names)]
        data, edits = mutate(contents[name], rng)
        mutant = tmp_path / f"m{k}.tflite"
        mutant.write_bytes(data)
        out = tmp_path / "out" / f"o{k}.tflite"
        commands = _commands(mutant, valid, out)
        argv, writes = commands[(k // len(names)) % len(commands)]
        jobs.append({"argv": argv, "out": str(tmp_path / "jobs" / str(k)), "case": f"{name} #{k}: {'; '.join(edits)}",
                     "writes": str(writes) if writes else None})
    (tmp_path / "out").mkdir()
    results = drive(jobs)
    failures = [f"seed {SEED}, {job['case']}, `litesig {job['argv'][0]}`: {why}"
                for job, r in zip(jobs, results) for why in check(job, r)]
    codes = [r["code"] for r in results]
    summary = {c: codes.count(c) for c in sorted(set(codes))}
    print(f"fuzz: {CASES_N} mutants, exit codes {summary}")
    assert not failures, f"{len(failures)} of {CASES_N} runs broke a rule:\n" + "\n".join(failures[:40])
    assert summary.get(2, 0) > CASES_N // 10  # the mutants do reach the checks (not all cosmetic)
