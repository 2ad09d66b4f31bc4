"""Figures for merge and add-signature (issue 12): sizes, bytes shared, bytes changed, labels, alignment.

Usage: PYTHONPATH=src python bench/compose_figures.py [--out bench/results/compose.json]
Builds three small files by three paths (litesig convert of the seed spec, Keras model.export, a file
packed with TFLite Support-style metadata and labels, see tests/_packed.py), merges them, and adds a
signature to packed files in two layouts (appended zip; external buffers + zip). Prints and saves JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE / "results" / "compose.json"))
    args = parser.parse_args()
    import litesig
    from litesig.tflite import flatbuffer as fb
    from litesig._tf import import_keras
    from litesig.cli.demo import build_models
    from litesig.verification.merged import merge
    from tests._external import externalize
    from tests._packed import LABELS, append_files, pack, read_files

    keras = import_keras()
    keras.utils.set_random_seed(0)
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        build_models(d)
        img, mask = keras.Input((6,), name="image"), keras.Input((2,), name="mask")
        h = keras.layers.Concatenate()([img, mask])
        multi = keras.Model([img, mask], {"probs": keras.layers.Dense(3, activation="softmax")(h), "box": keras.layers.Dense(4)(h)})
        multi.save(d / "multi.keras")
        multi.export(str(d / "exported.tflite"), format="litert", verbose=False)
        litesig.convert(d / "litesig.toml", d / "converted.tflite", optimize="none")
        litesig.convert(d / "multi.keras", d / "multi.tflite", signature="classify", output_names=["probs", "box"])
        pack(d / "multi.tflite", d / "packed.tflite")
        figures["declared_order"] = [[s.key, [t.name for t in s.outputs]] for s in fb.read_model(d / "multi.tflite").signatures]

        srcs = [d / "converted.tflite", d / "exported.tflite", d / "packed.tflite"]
        r = merge(srcs, d / "merged.tflite", renames={("exported", "serving_default"): "detect"}, metadata_from=2)
        figures["merge"] = {
            "inputs_bytes": {p.name: p.stat().st_size for p in srcs}, "sum": r.inputs_bytes, "merged_bytes": r.size_bytes,
            "shared_buffers": r.shared_buffers, "bytes_saved": r.bytes_saved,
            "sum_minus_saved": r.inputs_bytes - r.bytes_saved,
            "signatures": {c.signature: {"bit_identical": c.identical, "sizes": c.sizes} for c in r.checks},
            "labels_equal": read_files(r.path) == LABELS,
            "buffers_16_aligned": all(b.data_pos % 16 == 0 for b in fb.read_model(r.path).buffers if b.data_size),
        }

        pack(d / "multi.tflite", d / "zip.tflite", drop_signatures=True)
        pack(d / "converted.tflite", d / "p.tflite", drop_signatures=True)
        externalize(d / "p.tflite", d / "ext.tflite")
        append_files(d / "ext.tflite", LABELS)
        figures["add_signature"] = {}
        for layout, src in (("appended_zip", d / "zip.tflite"), ("external_buffers_and_zip", d / "ext.tflite")):
            m = fb.read_model(src)
            sg = m.subgraphs[0]
            out = litesig.add_signature(src, d / f"{layout}_sig.tflite", name="run",
                                        inputs=[f"in{i}" for i in range(len(sg.inputs))], outputs=[f"out{i}" for i in range(len(sg.outputs))]).path
            old, new = src.read_bytes(), out.read_bytes()
            shift = len(new) - len(old)
            after = fb.read_model(out)
            same = all(old[(a.offset if a.offset > 1 else a.data_pos):][:a.nbytes] == new[(b.offset if b.offset > 1 else b.data_pos):][:b.nbytes]
                       for a, b in zip(m.buffers, after.buffers))
            aligned = all((a.offset or a.data_pos) % 64 == (b.offset or b.data_pos) % 64 for a, b in zip(m.buffers, after.buffers) if a.nbytes)
            moved = sum(1 for b in m.buffers if b.offset > 1)
            figures["add_signature"][layout] = {
                "bytes_before": len(old), "bytes_after": len(new), "inserted_after_header": shift,
                "original_bytes_after_header_unchanged_but_shifted": sum(1 for i in range(8, len(old)) if old[i] == new[i + shift]),
                "original_bytes_after_header": len(old) - 8, "absolute_offsets_moved": moved,
                "weights_byte_identical": same, "alignment_mod_64_kept": aligned, "labels_equal": read_files(out) == LABELS,
                "metadata_indices_valid": all(x.buffer < len(after.buffers) for x in after.metadata),
            }
    text = json.dumps(figures, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
