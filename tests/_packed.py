"""Files laid out as the TFLite Support metadata writer leaves them: a TFLITE_METADATA buffer, and the
associated files (labels) as a zip appended after the flatbuffer.

tflite-support's writer is not installable on this stack; its populator (metadata.py,
`_populate_metadata_buffer` then `_populate_associated_files`) adds a metadata entry named
TFLITE_METADATA over a new buffer holding the metadata flatbuffer (file identifier "M001"),
repacks the model, then opens the file with `zipfile.ZipFile(model, "a")` and writes each file
(ZIP_STORED). This does the same, with a minimal metadata flatbuffer.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

LABELS = {"labels.txt": b"background\ncat\ndog\n", "vocab.txt": b"a\nb\n"}


def _metadata_flatbuffer() -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(64)
    name = b.CreateString("litesig test model")
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.Finish(b.EndObject(), file_identifier=b"M001")
    return bytes(b.Output())


def pack(source: Path, target: Path, *, drop_signatures: bool = False, files: dict[str, bytes] | None = None) -> Path:
    """Write `source` with TFLITE_METADATA and appended associated files to `target`."""
    model = flatbuffer_utils.read_model(str(source))
    if drop_signatures:
        model.signatureDefs = []
    buf = schema.BufferT()
    buf.data = np.frombuffer(_metadata_flatbuffer(), np.uint8)
    model.buffers.append(buf)
    md = schema.MetadataT()
    md.name, md.buffer = "TFLITE_METADATA", len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), md]
    flatbuffer_utils.write_model(model, str(target))
    append_files(target, files or LABELS)
    return target


def append_files(target: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "a") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def read_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}
