"""TFLite Model Metadata (what MediaPipe Tasks read instead of signatures), written without TensorFlow.

The metadata is its own flatbuffer (tflite-support's metadata_schema.fbs, identifier "M001"),
stored in a model buffer named by the model's "TFLITE_METADATA" metadata entry; the files it
names (labels.txt) are appended to the model as a zip. Only the tables an image classifier or
embedder needs are written: model name, description, version, author, license; the image input's
colour space, size, normalization (mean/std) and value range; each output's labels (an associated
file of type TENSOR_AXIS_LABELS) and score threshold. Field slots follow metadata_schema.fbs 1.1.0.

MediaPipe Tasks also require one subgraph, a float image input with normalization, and labels
that match the classes: every one is checked before anything is written.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import flatbuffer as fb
from .._io import check_writable, write_atomic
from ..errors import InvalidInput, Problem

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
PARSER_VERSION = "1.0.0"  # every field written here exists since metadata schema 1.0.0
LABELS_FILE = "labels.txt"
COLOR_SPACES = {"rgb": 1, "grayscale": 2}
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2  # union ContentProperties
_NORMALIZATION, _THRESHOLDING = 1, 3  # union ProcessUnitOptions
_TENSOR_AXIS_LABELS = 2  # enum AssociatedFileType


@dataclass(frozen=True)
class ModelMetadata:
    """What `litesig metadata` writes; None or empty leaves a field out."""

    name: str | None = None
    description: str | None = None
    version: str | None = None
    author: str | None = None
    license: str | None = None
    mean: tuple[float, ...] = ()  # one value, or one per channel: (x - mean) / std
    std: tuple[float, ...] = ()
    color_space: str = "rgb"
    labels: tuple[str, ...] = ()  # for the first output, one per class
    score_threshold: float | None = None


@dataclass(frozen=True)
class MetadataResult:
    path: Path
    size_bytes: int
    input: str
    output: str
    classes: int
    notes: list[str] = field(default_factory=list)


def parse_labels(text: str) -> tuple[tuple[str, ...], str | None]:
    """A labels file's lines (a final newline ends the last one; CRLF allowed): the labels, or why they are not."""
    lines = text.split("\n")
    labels = tuple(line.rstrip("\r") for line in (lines[:-1] if lines[-1] == "" else lines))
    empty = next((i + 1 for i, label in enumerate(labels) if not label.strip()), None)
    if not labels or empty is not None:
        return (), f"one non-empty label per line (line {empty or 1} is empty)"
    return labels, None


def write_metadata(model: str | os.PathLike[str], output: str | os.PathLike[str], meta: ModelMetadata, *,
                   force: bool = False) -> MetadataResult:
    """Write `model` with TFLite Model Metadata (and labels) to `output`; the graph, weights and signatures unchanged.

    Raises:
        InvalidInput: what MediaPipe Tasks would refuse, or counts that do not match (all listed); nothing written.
    """
    source = Path(model)
    check_writable(output, force=force, inputs=[source])
    content, parsed = fb.load(source)
    from .validate import validate

    validate(parsed, str(source))
    data = add_metadata(content, meta, str(source), parsed)
    written = write_atomic(output, data, replace=force)
    sg = parsed.subgraphs[0]
    image, out = sg.tensors[sg.inputs[0]], sg.tensors[sg.outputs[0]]
    notes = [] if meta.labels else ["no --labels: MediaPipe's classifiers name categories by index only"]
    return MetadataResult(written, len(data), image.name, out.name, out.shape[-1] if out.shape else 0, notes)


def add_metadata(content: bytes, meta: ModelMetadata, source: str, parsed: fb.Model | None = None) -> bytes:
    """The model's bytes with the metadata (and labels zip): what `write_metadata` writes, for convert's spec table too.

    Raises:
        InvalidInput: what MediaPipe Tasks would refuse, or counts that do not match (all listed).
    """
    parsed = parsed or fb.parse(content)
    _main_subgraph(parsed, source)
    problems = _problems(parsed, meta, source)
    if problems:
        raise InvalidInput(source, problems)
    sg = parsed.subgraphs[0]
    data = io.BytesIO(_with_metadata(content, _metadata_flatbuffer(meta, sg, sg.tensors[sg.inputs[0]].shape)))
    if meta.labels:
        data.seek(0, io.SEEK_END)
        with zipfile.ZipFile(data, "a", compression=zipfile.ZIP_STORED) as zf:  # appended, as TFLite Support does
            zf.writestr(LABELS_FILE, "".join(f"{label}\n" for label in meta.labels))
    return data.getvalue()


@dataclass(frozen=True)
class _IO:
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _main_subgraph(parsed: fb.Model, source: str) -> tuple[fb.SubGraph, _IO]:
    if not parsed.subgraphs:
        raise InvalidInput(source, [Problem("", "the model has no subgraph")])
    sg = parsed.subgraphs[0]
    return sg, _IO(sg.inputs, sg.outputs)


def _problems(parsed: fb.Model, meta: ModelMetadata, source: str) -> list[Problem]:
    """Everything MediaPipe Tasks would refuse, and every count that does not match, at once."""
    problems = []
    if len(parsed.subgraphs) != 1:
        problems.append(Problem("", f"{len(parsed.subgraphs)} subgraphs: MediaPipe Tasks run a file with a single one "
                                    "(write metadata on a file of one signature)"))
    sg = parsed.subgraphs[0]
    if len(sg.inputs) != 1:
        problems.append(Problem("", f"{len(sg.inputs)} inputs: image metadata is for a model with one image input"))
        return problems
    image = sg.tensors[sg.inputs[0]]
    shape = list(image.shape_signature if image.shape_signature is not None else image.shape)
    channels = shape[-1] if len(shape) == 4 else None
    if len(shape) != 4 or shape[0] not in (1, -1) or channels not in (1, 3) or min(shape[1:3]) < 1:
        problems.append(Problem("", f"input {image.name!r} has shape {shape}: not an image (expected [1, height, width, 3] "
                                    "or [1, height, width, 1], height and width fixed)"))
        return problems
    want_channels = 1 if meta.color_space == "grayscale" else 3
    if meta.color_space not in COLOR_SPACES:
        problems.append(Problem("--color-space", f"{meta.color_space!r}; expected one of {', '.join(COLOR_SPACES)}"))
    elif channels != want_channels:
        problems.append(Problem("--color-space", f"{meta.color_space} images have {want_channels} channel(s); input "
                                                 f"{image.name!r} has {channels}"))
    float_input = image.type in (0, 1)  # FLOAT32, FLOAT16
    for flag, values in (("--mean", meta.mean), ("--std", meta.std)):
        if values and len(values) not in (1, channels):
            problems.append(Problem(flag, f"{len(values)} values for {channels} channels: give one, or one per channel"))
        if any(not math.isfinite(v) for v in values):
            problems.append(Problem(flag, "values must be finite numbers"))
    if any(v == 0 for v in meta.std):
        problems.append(Problem("--std", "0 divides: every std must be non-zero"))
    if float_input and not (meta.mean and meta.std):
        problems.append(Problem("--mean/--std", f"input {image.name!r} is float: MediaPipe Tasks require its normalization "
                                                "(e.g. --mean 127.5 --std 127.5 for [-1, 1], --mean 0 --std 255 for [0, 1])"))
    if not sg.outputs:
        problems.append(Problem("", "the model has no output"))
        return problems
    out = sg.tensors[sg.outputs[0]]
    classes = out.shape[-1] if out.shape else 0
    if meta.labels and len(meta.labels) != classes:
        problems.append(Problem("--labels", f"{len(meta.labels)} labels for {classes} classes (output {out.name!r} has "
                                            f"shape {list(out.shape)}): give one label per class"))
    if meta.score_threshold is not None and not (math.isfinite(meta.score_threshold)):
        problems.append(Problem("--score-threshold", "must be a finite number"))
    return problems


# ---------------------------------------------------------------------------------------------
# The M001 flatbuffer, built back to front with the flatbuffers runtime (children before parents).


def _metadata_flatbuffer(meta: ModelMetadata, sg: fb.SubGraph, shape: tuple[int, ...]) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def text(value: str | None) -> int | None:
        return b.CreateString(value) if value else None

    def table(fields: Sequence[tuple[int, str, Any]]) -> int:
        """A table from (slot, kind, value): kind 'o' an offset, 'b' a byte, 'u' a uint32, 'f' a float32."""
        b.StartObject(max(slot for slot, _, _ in fields) + 1 if fields else 0)
        for slot, kind, value in fields:
            if value is None:
                continue
            {"o": b.PrependUOffsetTRelativeSlot, "b": b.PrependUint8Slot, "u": b.PrependUint32Slot,
             "f": b.PrependFloat32Slot}[kind](slot, value, 0 if kind != "o" else 0)
        return int(b.EndObject())

    def floats(values: Sequence[float]) -> int:
        b.StartVector(4, len(values), 4)
        for v in reversed(values):
            b.PrependFloat32(v)
        return int(b.EndVector())

    def offsets(items: Sequence[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return int(b.EndVector())

    # The image input: colour space and size, normalization, the value range after it.
    height, width = int(shape[1]), int(shape[2])
    size = table([(0, "u", width), (1, "u", height)])
    image_props = table([(0, "b", COLOR_SPACES.get(meta.color_space, 1)), (1, "o", size)])
    image_content = table([(0, "b", _CONTENT_IMAGE), (1, "o", image_props)])
    units = []
    if meta.mean and meta.std:
        # MediaPipe refuses mean and std of different lengths ("expected mean and std of same dimension"): a single
        # value beside per-channel ones is repeated for each channel.
        width = max(len(meta.mean), len(meta.std))
        mean = list(meta.mean) * width if len(meta.mean) == 1 else list(meta.mean)
        std = list(meta.std) * width if len(meta.std) == 1 else list(meta.std)
        norm = table([(0, "o", floats(mean)), (1, "o", floats(std))])
        units.append(table([(0, "b", _NORMALIZATION), (1, "o", norm)]))
    stats = None
    if meta.mean and meta.std:
        channels = int(shape[3])
        mean = list(meta.mean) * channels if len(meta.mean) == 1 else list(meta.mean)
        std = list(meta.std) * channels if len(meta.std) == 1 else list(meta.std)
        stats = table([(0, "o", floats([(255 - m) / s for m, s in zip(mean, std)])),
                       (1, "o", floats([(0 - m) / s for m, s in zip(mean, std)]))])
    image_tensor = table([(0, "o", text("image")), (1, "o", text("Input image to be processed.")), (3, "o", image_content),
                          (4, "o", offsets(units) if units else None), (5, "o", stats)])
    # Outputs: the first carries the labels and threshold; others are plain features.
    outputs = []
    for k, _index in enumerate(sg.outputs):
        files = None
        if k == 0 and meta.labels:
            label_file = table([(0, "o", text(LABELS_FILE)), (1, "o", text("Labels for categories that the model can recognize.")),
                                (2, "b", _TENSOR_AXIS_LABELS)])
            files = offsets([label_file])
        out_units = None
        if k == 0 and meta.score_threshold is not None:
            threshold = table([(0, "f", float(meta.score_threshold))])
            out_units = offsets([table([(0, "b", _THRESHOLDING), (1, "o", threshold)])])
        feature = table([])
        content = table([(0, "b", _CONTENT_FEATURE), (1, "o", feature)])
        out_stats = table([(0, "o", floats([1.0])), (1, "o", floats([0.0]))]) if k == 0 else None
        outputs.append(table([(0, "o", text("probability" if k == 0 else f"output_{k}")),
                              (1, "o", text("Probabilities of the labels respectively." if k == 0 else None)),
                              (3, "o", content), (4, "o", out_units), (5, "o", out_stats), (6, "o", files)]))
    subgraph = table([(2, "o", offsets([image_tensor])), (3, "o", offsets(outputs))])
    root = table([(0, "o", text(meta.name)), (1, "o", text(meta.description)), (2, "o", text(meta.version)),
                  (3, "o", offsets([subgraph])), (4, "o", text(meta.author)), (5, "o", text(meta.license)),
                  (7, "o", text(PARSER_VERSION))])
    b.Finish(root, file_identifier=IDENTIFIER)
    return bytes(b.Output())


def _with_metadata(content: bytes, metadata: bytes) -> bytes:
    """The model with `metadata` in a buffer named TFLITE_METADATA (replacing an old one); the zip after it is dropped."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    buffer = schema.BufferT()
    buffer.data = list(metadata)
    model.buffers = list(model.buffers or [])
    entries = [m for m in (model.metadata or []) if _text(m.name) != METADATA_NAME]
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [*entries, entry]
    builder = flatbuffers.Builder(len(content) + len(metadata) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=fb.FILE_IDENTIFIER)
    return bytes(builder.Output())


def _text(value: str | bytes | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
