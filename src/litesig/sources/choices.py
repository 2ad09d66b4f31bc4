"""The words convert, quantize and verify accept: kept apart from spec.py so building the CLI parser imports nothing else."""

CONVERTER_MODES = ("none", "float16", "dynamic-int8", "int8")  # the TFLite converter's own
QUANTIZER_MODES = ("weight-only-int8", "weight-only-int4", "dynamic-int4", "blockwise-int4", "static-int8", "static-int16")  # ai-edge-quantizer
OPTIMIZE_MODES = CONVERTER_MODES + QUANTIZER_MODES
IO_DTYPES = ("int8", "uint8", "int16", "float32")  # what a signature input/output may be quantized to (float32: keep float)
TARGETS = ("gpu", "compiled", "web")  # convert --target: LiteRT 2's CompiledModel on the GPU accelerator / the CPU; LiteRT.js
FIXED_SHAPE_TARGETS = ("gpu", "web")  # runtimes that take no dynamic dim: convert --target fixes each -1 to 1
