"""What each app runtime will refuse in a file, read from the file alone (inspect's prediction).

Each rule is a measured fact (docs/verification.md): LiteRT 2's GPU accelerator takes no dynamic
shape; LiteRT.js (@litertjs/core 2.5.3) moves only float32, int32 and uint8 across its boundary and
cannot resize an input; MediaPipe Tasks read subgraph 0 and TFLite Model Metadata. A prediction is
not a proof: `litesig verify --on` runs the file (the Interpreter, CompiledModel CPU and GPU, LiteRT.js in Node).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

WEB_DTYPES = ("float32", "int32", "uint8")


class AppRuntimeFit(NamedTuple):
    """Whether one runtime can run one signature (or, for MediaPipe, the file), and if not, why and what to do."""

    runtime: str  # "gpu" (CompiledModel, GPU accelerator), "web" (LiteRT.js), "mediapipe" (MediaPipe Tasks)
    signature: str | None  # None: the file as a whole
    runs: bool
    why: Sequence[str] = ()


def predict(signatures: dict[str, Any], *, subgraphs: int, flex_ops: list[str], custom_ops: list[str],
            metadata: list[str], float_inputs: Sequence[str] = (), normalized: list[bool] | None = None) -> list[AppRuntimeFit]:
    """The fits of every signature on the GPU and the web, and of the file on MediaPipe Tasks."""
    out = []
    for name, sig in signatures.items():
        tensors = [("input", n, t) for n, t in sig.inputs.items()] + [("output", n, t) for n, t in sig.outputs.items()]
        dynamic = [f"input {n} {_shape(t.shape)}" for kind, n, t in tensors if kind == "input" and -1 in t.shape][:5]
        gpu = [f"dynamic shape ({', '.join(dynamic)}): the GPU accelerator takes none; fix it when converting "
               "(--input-shape NAME=1,...)"] if dynamic else []
        if flex_ops:
            gpu.append(f"select-TF ops ({', '.join(flex_ops[:5])}) run nowhere but the Flex runtime")
        web = []
        if dynamic:
            web.append(f"dynamic shape ({', '.join(dynamic)}): LiteRT.js cannot resize an input; fix it when converting")
        odd = [f"{kind} {n} is {t.dtype}" for kind, n, t in tensors if t.dtype not in WEB_DTYPES][:5]
        if odd:
            web.append(f"{', '.join(odd)}: LiteRT.js takes only {', '.join(WEB_DTYPES)} (use uint8 I/O for integers)")
        if flex_ops or custom_ops:
            web.append(f"ops LiteRT.js does not have: {', '.join((flex_ops + custom_ops)[:5])}")
        out.append(AppRuntimeFit("gpu", name, not gpu, gpu))
        out.append(AppRuntimeFit("web", name, not web, web))
    media = []
    if subgraphs > 1:
        media.append(f"{subgraphs} subgraphs: MediaPipe Tasks assume a single one")
    if "TFLITE_METADATA" not in metadata:
        media.append("no TFLite Model Metadata (normalization, labels): MediaPipe Tasks read it instead of signatures; "
                     "add it with `litesig metadata --mean --std --labels`")
    elif float_inputs and normalized is not None and not all(normalized):
        media.append(f"float input(s) {', '.join(float_inputs[:5])} without normalization in the metadata: MediaPipe Tasks "
                     "require it (`litesig metadata --mean --std`)")
    out.append(AppRuntimeFit("mediapipe", None, not media, media))
    return out


def _shape(shape: list[int]) -> str:
    """A shape for a message: a hostile file's may have millions of dims."""
    return str(shape) if len(shape) <= 8 else f"[{', '.join(map(str, shape[:8]))}, ... {len(shape)} dims]"
