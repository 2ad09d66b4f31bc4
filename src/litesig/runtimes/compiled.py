"""LiteRT 2's CompiledModel (what Android's and iOS' CompiledModel wrap), on the CPU or the GPU accelerator.

It refuses things the Interpreter accepts: the GPU accelerator takes no dynamic shape, and it
lists a signature's outputs in another order than the SignatureDef (so buffers are always taken
by name here). `CompiledRunner` has the interface of `Runner` (signatures, input/output details,
run by name) so verification runs the same cases on it; the file is validated, and loaded in a
crash-isolated child, by the `Runner` it keeps for that.

The GPU accelerator (libLiteRtWebGpuAccelerator.so in the ai-edge-litert wheel) runs on Dawn over
Vulkan. Without a GPU, Chromium's software Vulkan device works: install Debian's `chromium` and
set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Mesa's llvmpipe is refused by Dawn).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._io import captured_stderr
from ..tflite import flatbuffer as fb
from ..errors import LitesigError
from .interpreter import OnAnotherRuntime, Runner

ACCELERATORS = ("cpu", "gpu")
_REASONS = ("Couldn't load Vulkan", "No adapters found", "Failed to", "not supported", "Unsupported", "dynamic")
SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json"


def label(accelerator: str) -> str:
    """How reports name the runtime: 'CompiledModel (CPU)', 'CompiledModel (GPU)'."""
    return f"CompiledModel ({accelerator.upper()})"


class RuntimeUnavailable(LitesigError):
    """This runtime cannot load or run the file (or is not installed here); the message names the fix."""

    exit_code = 1


class CompiledRunner(OnAnotherRuntime):
    """A .tflite on LiteRT 2's CompiledModel, with the CPU or GPU accelerator; inputs and outputs by name."""

    def __init__(self, model: str | os.PathLike[str] | bytes, *, accelerator: str = "cpu", name: str | None = None,
                 runner: Runner | None = None):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator

        if accelerator not in ACCELERATORS:
            raise LitesigError(f"unknown accelerator {accelerator!r}; expected one of {', '.join(ACCELERATORS)}")
        self.reference = runner or Runner(model, name=name)  # validation, crash isolation, file order, details
        self.source = self.reference.source
        self.model = self.reference.model  # the parsed file
        self.accelerator = accelerator
        self.label = label(accelerator)
        content, _ = fb.load(model, self.source)  # the same bounded read the Runner made
        # GPU with the CPU beside it, as apps configure it: ops the GPU lacks run on the CPU (GPU alone refuses such a file)
        hardware = HardwareAccelerator.GPU | HardwareAccelerator.CPU if accelerator == "gpu" else HardwareAccelerator.CPU
        if accelerator == "gpu":
            self._check_fixed_shapes()
            missing = gpu_unavailable()  # asked in a child: a failed GPU start leaves LiteRT to abort at exit
            if missing:
                raise RuntimeUnavailable(f"{self.source}: cannot load on {self.label}: {missing}{self._gpu_hint()}")
        error, log_text = None, ""
        with captured_stderr(stdout=True) as log:
            try:
                self._model = CompiledModel.from_buffer(bytes(content), hardware_accel=hardware)
            except Exception as e:  # the bindings raise RuntimeError/ValueError with a source location; the reason is logged
                error = e
            log_text = log()
        if error is not None:
            raise RuntimeUnavailable(f"{self.source}: cannot load on {self.label}: {_reasons(log_text) or _first_line(error)}"
                                     + self._gpu_hint())
        self.fully_accelerated = bool(self._model.is_fully_accelerated())
        self.fallback = fallback(log_text) if accelerator == "gpu" and not self.fully_accelerated else ""

    def close(self) -> None:
        """Release the CompiledModel and its environment now (LiteRT logs to fd 2 as it lets go of accelerators)."""
        with captured_stderr(stdout=True):
            self._model = None
            import gc

            gc.collect()

    def run(self, inputs: Mapping[str, Any], *, signature: str | None = None, check: bool = True) -> dict[str, np.ndarray]:
        """Run one signature: dynamic dims resized to the arrays (CPU), buffers created, written and read by name."""
        key = self.resolve(signature)
        arrays = self.reference.checked(key, inputs) if check else {n: np.asarray(a) for n, a in inputs.items()}
        self.reference.probe(key, arrays)  # a crash of LiteRT on these shapes happens in a child first
        from ai_edge_litert.tensor_buffer import TensorBuffer

        details = self.input_details(key)
        dynamic = [name for name in arrays if -1 in details[name].shape_signature]
        wanted = self.output_details(key)
        try:
            with captured_stderr(stdout=True):
                for name in dynamic:
                    self._model.resize_input_tensor_by_name(key, name, list(arrays[name].shape))
                # Output shapes follow a resize only after a run, and a buffer sized before it is too small: after a
                # resize they come from the Interpreter on the same inputs (the values still come from here).
                shapes = ({n: a.shape for n, a in self.reference.run(arrays, signature=key, check=False).items()} if dynamic else
                          {n: tuple(int(s) for s in d["shape"]) for n, d in self._model.get_output_tensor_details(key).items()})
                ins = {name: self._model.create_input_buffer_by_name(key, name) for name in arrays}
                for name, array in arrays.items():
                    ins[name].write(np.ascontiguousarray(array))
                held = {name: np.zeros(shape, wanted[name].dtype) for name, shape in shapes.items()}
                outs = {name: TensorBuffer.create_from_host_memory(array) for name, array in held.items()}
                self._model.run_by_name(key, ins, outs)
                result = {name: np.asarray(outs[name].read(int(np.prod(shape, dtype=np.int64)), wanted[name].dtype)).reshape(shape)
                          for name, shape in shapes.items()}
        except (RuntimeError, ValueError, TypeError, KeyError) as e:
            raise RuntimeUnavailable(f"{self.source}: signature {key!r} failed on {self.label}: {_first_line(e)}") from None
        return result

    def _check_fixed_shapes(self) -> None:
        dynamic = [f"{sig}/{name} {list(d.shape_signature)}" for sig in self.signatures
                   for name, d in self.input_details(sig).items() if -1 in d.shape_signature]
        if dynamic:
            raise RuntimeUnavailable(
                f"{self.source}: cannot run on {self.label}: the GPU accelerator takes no dynamic shape, and "
                f"{', '.join(dynamic[:5])} {'is' if len(dynamic) == 1 else 'are'} dynamic; fix them when converting "
                "(--input-shape NAME=1,..., or `shape = [1, ...]` in the spec)")

    def _gpu_hint(self) -> str:
        if self.accelerator != "gpu":
            return ""
        if os.environ.get("VK_ICD_FILENAMES"):
            return f" (Vulkan device from VK_ICD_FILENAMES={os.environ['VK_ICD_FILENAMES']})"
        return ("; LiteRT's GPU accelerator needs the Vulkan loader (Debian: libvulkan1) and a Vulkan device: without a "
                f"GPU, install Debian's chromium and set VK_ICD_FILENAMES={SWIFTSHADER_ICD} (its software Vulkan)")


_GPU_PROBE = """
import sys
from ai_edge_litert.compiled_model import CompiledModel
from ai_edge_litert.hardware_accelerator import HardwareAccelerator
CompiledModel.from_buffer(sys.stdin.buffer.read(), hardware_accel=HardwareAccelerator.GPU)
print("ok")
"""
_gpu_state: list[str] = []  # one answer per process


def gpu_unavailable() -> str:
    """Why LiteRT's GPU accelerator cannot start here ("" when it can), asked once per process in a child process."""
    if not _gpu_state:
        import subprocess
        import sys

        try:
            proc = subprocess.run([sys.executable, "-c", _GPU_PROBE], input=_add_model(), capture_output=True, timeout=120)
            ok = proc.returncode == 0 and b"ok" in proc.stdout
            _gpu_state.append("" if ok else (_reasons(proc.stderr.decode("utf-8", "replace")) or "the GPU accelerator did not start"))
        except (OSError, subprocess.TimeoutExpired) as e:
            _gpu_state.append(f"the GPU accelerator did not start ({type(e).__name__})")
    return _gpu_state[0]


def _add_model() -> bytes:
    """A one-op model (x + x, float32[1, 4]) for asking whether the GPU accelerator starts."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = schema.ModelT()
    m.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    m.operatorCodes = [code]
    m.buffers = [schema.BufferT() for _ in range(3)]
    sg = schema.SubGraphT()
    sg.tensors = []
    for name, buffer in (("x", 1), ("y", 2)):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.type, tensor.buffer = name, [1, 4], schema.TensorType.FLOAT32, buffer
        sg.tensors.append(tensor)
    sg.inputs, sg.outputs = [0], [1]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0], [1]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    sg.operators = [op]
    m.subgraphs = [sg]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def fallback(log: str) -> str:
    """What the GPU delegate said it leaves to the CPU: 'GATHER_ND (Operation is not supported); 7 of 8 ops on the GPU'."""
    lines = log.splitlines()
    ops: list[str] = []
    for k, line in enumerate(lines):
        if "operations are not supported by GPU delegate" in line:
            for follow in lines[k + 1:]:
                name, sep, why = follow.partition(":")
                if not sep or not name.strip().replace("_", "").isalnum() or not name.strip().isupper():
                    break
                ops.append(f"{name.strip()} ({why.strip().rstrip('.')})")
    counts = re.search(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU", log)
    split = f"{counts[1]} of {int(counts[1]) + int(counts[2])} ops on the GPU" if counts else ""
    return "; ".join(part for part in (", ".join(dict.fromkeys(ops)), split) if part)


def _reasons(log: str) -> str:
    return "; ".join(line.strip() for line in log.splitlines() if any(w in line for w in _REASONS))[:600]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:400]
