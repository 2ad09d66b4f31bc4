"""inspect: everything read from the flatbuffer alone, safe on hostile files."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import litesig
from litesig.tflite import flatbuffer as fb
from litesig.errors import NotATFLiteModel


def codes(info):
    return [w.code for w in info.warnings]


def test_signatures_tensors_and_shapes_match_litert(converted):
    path = converted["coder"]
    info = litesig.inspect(path)
    it = Interpreter(model_path=str(path))
    assert list(info.signatures) == ["decode", "encode"]  # the order stored in the file
    for name, sig in info.signatures.items():
        runner = it.get_signature_runner(name)
        for kind, details in (("inputs", runner.get_input_details()), ("outputs", runner.get_output_details())):
            ours = getattr(sig, kind)
            assert list(ours) == sorted(details) or set(ours) == set(details)
            for tname, d in details.items():
                assert ours[tname].tensor == d["name"]
                assert ours[tname].shape == d["shape_signature"].tolist()
                assert ours[tname].dtype == np.dtype(d["dtype"]).name
    assert info.ops == {"FULLY_CONNECTED": 1, "TRANSPOSE": 1} or "FULLY_CONNECTED" in info.ops
    assert info.weights_bytes + info.graph_bytes == info.size_bytes == path.stat().st_size


def test_json_contract(converted, capsys):
    from litesig.cli.main import main

    assert main(["inspect", str(converted["seed"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"path", "size_bytes", "version", "signatures", "ops", "warnings"} <= set(doc)
    x = doc["signatures"]["sample_method_name"]["inputs"]["x_input"]
    assert x == {"name": "x_input", "dtype": "float32", "shape": [-1, 128, 3], "tensor": "sample_method_name_x_input:0",
                 "index": x["index"], "quantization": None}
    assert doc["version"] == 3 and doc["metadata"] == ["min_runtime_version", "CONVERSION_METADATA"]


def test_int8_quantization_is_reported(converted):
    info = litesig.inspect(converted["seed_int8"])
    quantized = [t for sg in fb.read_model(converted["seed_int8"]).subgraphs for t in sg.tensors if t.quantization]
    assert quantized, "an int8 model has quantized tensors"
    assert any(len(t.quantization.scale) > 1 for t in quantized)  # per-channel weights
    assert info.signatures["sample_method_name"].inputs["x_input"].dtype == "float32"  # float interface kept


def test_table_rendering(converted, capsys):
    from litesig.cli.main import main

    assert main(["inspect", str(converted["multi"])]) == 0
    out = capsys.readouterr().out
    assert "signature detect" in out and "FULLY_CONNECTED" in out and "probs" in out


def test_warnings_for_generic_names_and_fixed_batch(tf, tmp_path, keras):
    model = keras.Sequential([keras.Input((4,), batch_size=1), keras.layers.Dense(2)])
    path = tmp_path / "plain.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    info = litesig.inspect(path)
    assert list(info.signatures) == ["serving_default"]
    assert {"generic_signature", "generic_name", "fixed_batch"} <= set(codes(info))
    generic = [w.message for w in info.warnings if w.code == "generic_name"]
    assert any("output_0" in m for m in generic) and all(w.fix for w in info.warnings)


def test_flex_ops_warning(converted):
    info = litesig.inspect(converted["flex"])
    assert info.flex_ops == ["FlexAsString"] and "flex_ops" in codes(info)


def test_textbook_recipe_is_flagged(textbook_nan_model):
    info = litesig.inspect(textbook_nan_model / "textbook.tflite")
    assert "uninitialised_variables" in codes(info)
    assert info.signatures["sample_method_name"].outputs.keys() == {"my_output_a", "my_output_b"}


def test_litesig_output_has_no_variable_warning_and_good_names(converted):
    assert codes(litesig.inspect(converted["seed"])) == []


def test_no_signatures_warning(converted, tmp_path):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(converted["seed"]))
    model.signatureDefs = []
    flatbuffer_utils.write_model(model, str(tmp_path / "nosig.tflite"))
    info = litesig.inspect(tmp_path / "nosig.tflite")
    assert info.signatures == {} and "no_signatures" in codes(info)


def test_inspect_bytes_equals_inspect_path(converted):
    path = converted["seed"]
    a, b = litesig.inspect(path), litesig.inspect(path.read_bytes())
    assert a.signatures == b.signatures and a.ops == b.ops and b.path.startswith("<")


# ---------------------------------------------------------------------------------------------
# Hostile input


@pytest.mark.parametrize("data, message", [
    (b"", "too short"),
    (b"\x00" * 7, "too short"),
    (b"\x10\x00\x00\x00TFL2" + b"\x00" * 40, "file identifier is b'TFL2'"),
    (b"\xff\xff\xff\x7fTFL3" + b"\x00" * 40, "past the end of the file"),
    (b"\x08\x00\x00\x00TFL3\xf0\xff\xff\x0f", "outside the file"),
])
def test_hostile_bytes_are_clear_errors(data, message):
    with pytest.raises(NotATFLiteModel, match=message):
        litesig.inspect(data)


def test_truncated_model(converted):
    data = converted["seed"].read_bytes()
    for cut in (8, 64, len(data) // 3, len(data) // 2, len(data) - 100):
        with pytest.raises(NotATFLiteModel):
            litesig.inspect(data[:cut])


def _patch_u32(data: bytes, pos: int, value: int) -> bytes:
    return data[:pos] + value.to_bytes(4, "little") + data[pos + 4:]


def test_tensor_pointing_at_a_missing_buffer(converted):
    data = converted["seed"].read_bytes()
    model = fb.read_model(data)
    # Find the first tensor's buffer field and point it past the buffer list.
    root = fb._Table(fb._Buf(data), model.root, "model")
    sg = root.tables(2, "subgraphs")[0]
    tensor = sg.tables(0, "tensors")[0]
    bad = _patch_u32(data, tensor.field(2), 999)
    with pytest.raises(NotATFLiteModel, match=f"tensors\\[0\\] points at buffer 999, the file has {len(model.buffers)}"):
        litesig.inspect(bad)


def test_absurd_vector_length(converted):
    data = converted["seed"].read_bytes()
    model = fb.read_model(data)
    root = fb._Table(fb._Buf(data), model.root, "model")
    vec = root.buf.uoffset(root.field(4), "buffers")
    with pytest.raises(NotATFLiteModel, match="buffers at byte .* claims 4294967295 elements|more than"):
        litesig.inspect(_patch_u32(data, vec, 0xFFFFFFFF))


def test_external_buffer_offset_past_the_end(converted, tmp_path):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(converted["seed"]))
    big = next(b for b in model.buffers if b.data is not None and len(b.data) > 0)
    big.data, big.offset, big.size = None, 3_000_000_000, 1_000_000
    flatbuffer_utils.write_model(model, str(tmp_path / "ext.tflite"))
    with pytest.raises(NotATFLiteModel, match="holds 1000000 bytes at file offset 3000000000, past the end"):
        litesig.inspect(tmp_path / "ext.tflite")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NotATFLiteModel, match="no such file"):
        litesig.inspect(tmp_path / "nope.tflite")
    with pytest.raises(NotATFLiteModel, match="is a directory"):
        litesig.inspect(tmp_path)


@pytest.fixture(scope="module")
def corpus(converted):
    return [converted[k].read_bytes() for k in ("seed", "seed_int8", "coder", "multi", "flex")]


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_mutated_models_never_crash(corpus, data):
    """Bit flips, byte overwrites, truncation and splices of real models: a ModelInfo or NotATFLiteModel, nothing else."""
    raw = bytearray(data.draw(st.sampled_from(corpus)))
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(data.draw(st.integers(1, 12))):
        kind = rng.randrange(4)
        pos = rng.randrange(len(raw))
        if kind == 0:
            raw[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            raw[pos] = rng.randrange(256)
        elif kind == 2 and pos + 4 <= len(raw):
            raw[pos:pos + 4] = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(2**32), len(raw)]).to_bytes(4, "little")
        else:
            del raw[pos:]
            if len(raw) < 4:
                break
    try:
        info = litesig.inspect(bytes(raw))
    except NotATFLiteModel:
        return
    json.dumps(info.to_dict())  # whatever it returns must render


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(blob):
    for data in (blob, blob[:4] + b"TFL3" + blob[8:]):
        try:
            litesig.inspect(data)
        except NotATFLiteModel:
            pass


def test_weight_buffers_larger_than_the_element_cap_are_fine(converted, tmp_path):
    """The cap on vector lengths guards structure (tensors, ops); weight bytes only have to fit in the file."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(converted["seed"]))
    buf = model.buffers[model.metadata[0].buffer]  # a metadata buffer: a safe place for big unused bytes
    buf.data = np.zeros(fb.MAX_ELEMENTS + 1, np.uint8)
    flatbuffer_utils.write_model(model, str(tmp_path / "bigbuf.tflite"))
    info = litesig.inspect(tmp_path / "bigbuf.tflite")
    assert info.weights_bytes > fb.MAX_ELEMENTS


def test_tflite_support_metadata_name_and_description(converted, tmp_path):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    b = flatbuffers.Builder(0)
    name, description = b.CreateString("Seed classifier"), b.CreateString("Two heads over one input.")
    b.StartObject(2)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUOffsetTRelativeSlot(1, description, 0)
    b.Finish(b.EndObject(), file_identifier=b"M001")
    model = flatbuffer_utils.read_model(str(converted["seed"]))
    buf = schema.BufferT()
    buf.data = np.frombuffer(bytes(b.Output()), np.uint8)
    model.buffers.append(buf)
    md = schema.MetadataT()
    md.name, md.buffer = "TFLITE_METADATA", len(model.buffers) - 1
    model.metadata.append(md)
    flatbuffer_utils.write_model(model, str(tmp_path / "meta.tflite"))
    info = litesig.inspect(tmp_path / "meta.tflite")
    assert info.model_name == "Seed classifier" and info.model_description == "Two heads over one input."
    assert "TFLITE_METADATA" in info.metadata


def _shared_reference_bomb(n_subgraphs: int, n_tensors: int) -> bytes:
    """A small valid-looking model: N subgraph slots -> one subgraph whose M tensor slots -> one tensor."""
    import flatbuffers

    b = flatbuffers.Builder(0)
    b.StartObject(8)
    b.PrependUint32Slot(2, 0, 0)  # tensor.buffer = 0
    tensor = b.EndObject()
    b.StartVector(4, n_tensors, 4)
    for _ in range(n_tensors):
        b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensors, 0)
    subgraph = b.EndObject()
    b.StartVector(4, n_subgraphs, 4)
    for _ in range(n_subgraphs):
        b.PrependUOffsetTRelative(subgraph)
    subgraphs = b.EndVector()
    b.StartObject(3)
    buffer = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(buffer)
    buffers = b.EndVector()
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_shared_references_cannot_make_inspect_quadratic():
    small = _shared_reference_bomb(3, 4)
    assert [len(sg.tensors) for sg in fb.read_model(small).subgraphs] == [4, 4, 4]  # the shape itself is legal
    bomb = _shared_reference_bomb(4000, 4000)  # 32 KB that would mean 16 million tensor visits
    assert len(bomb) < 64_000
    with pytest.raises(NotATFLiteModel, match="refers to far more data than it holds"):
        litesig.inspect(bomb)
