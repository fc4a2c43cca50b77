"""The network as an ONNX graph, for ONNX Runtime (Python, C++, the browser) and other deployment runtimes.

The graph is `IndexNetMatting.forward`: input ``network_input`` N x 4 x H x W float32 (ImageNet-normalised RGB and
trimap / 255, exactly `indexnet.inference.network_input` transposed to NCHW), output ``raw_alpha`` N x 1 x H x W
float32 (no clamping, no known-region override: `predict` does those, and so does the web demo). N, H and W are
dynamic; H and W must be multiples of 32 (the graph does not check it: pad first, as `predict` does).

It is exported with the TorchScript-based exporter (`dynamo=False`), which handles every operator of the network
as written (the index blocks' pixel shuffles become DepthToSpace, the softmax of sigmoids a Softmax over the
branch axis), with BatchNorm folded into the convolutions; `tests/test_onnx.py` holds the parity with PyTorch.

`fp16=True` converts weights and arithmetic to float16 (half the file) while keeping float32 input and output.

The graph alone does not say at what scale to run it: `runtime_settings(model)` is what a runtime needs beside it
to reproduce `predict`'s defaults (the weights' `test_scale`); the export stores it in the file's metadata, and
`python -m indexnet onnx --json` also writes it as a small JSON file (the web page reads web/model.json).

`OnnxRuntimeModel` wraps an ONNX Runtime session as a module that `predict` runs like the PyTorch model, so the
three size modes and the known-region override are the same code for both.
"""
from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_file
from .model import IMAGENET_MEAN, IMAGENET_STD, IndexNetMatting

OPSET = 17
INPUT_NAME = "network_input"
OUTPUT_NAME = "raw_alpha"
# Tracing needs one concrete input; any multiple of 32 gives the same graph (H and W are declared dynamic).
_TRACE_SIZE = 64


def export_onnx(model: IndexNetMatting, path: str | os.PathLike, fp16: bool = False, opset: int = OPSET,
                metadata: dict[str, str] | None = None) -> Path:
    """Write `model` (an `IndexNetMatting`, any device or dtype; it is not modified) as an ONNX file, atomically.

    metadata: extra key/value strings stored in the file (the checkpoint it came from, say); the input
    normalisation and the size rule are always stored, so that a runtime can check what it feeds.
    """
    import onnx

    if not isinstance(model, IndexNetMatting):
        raise TypeError(f"export_onnx needs an IndexNetMatting, got {type(model).__name__}")
    net = copy.deepcopy(model).float().cpu().eval()
    example = torch.zeros(1, net.config.in_channels, _TRACE_SIZE, _TRACE_SIZE)
    dims = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The forward's shape check becomes a constant in the trace (TracerWarning), and the exporter's
        # deprecation notice about the TorchScript path: neither changes the graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), buffer, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims}, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    graph = onnx.load_from_string(buffer.getvalue())
    if fp16:
        from onnxruntime.transformers.float16 import convert_float_to_float16
        # keep_io_types: callers feed and read float32 whatever the weights are.
        graph = convert_float_to_float16(graph, keep_io_types=True)
        _sort_nodes(graph.graph)  # the converter appends its input casts at the end; the ONNX spec wants order
    info = {"model": "IndexNet matting (Lu et al., ICCV 2019), M2O DINs", "precision": "float16" if fp16 else "float32",
            "input": "N x 4 x H x W: (RGB / 255 - mean) / std, trimap / 255; H, W multiples of 32",
            "mean": ",".join(map(str, IMAGENET_MEAN)), "std": ",".join(map(str, IMAGENET_STD)),
            "size_multiple": "32", **{k: str(v) for k, v in runtime_settings(model).items()}, **(metadata or {})}
    onnx.helper.set_model_props(graph, info)
    onnx.checker.check_model(graph)
    path = Path(path)
    with atomic_file(path) as f:
        f.write(graph.SerializeToString())
    return path


def runtime_settings(model: IndexNetMatting) -> dict[str, float]:
    """What a runtime needs beside the graph to run these weights as `predict` does by default: ``test_scale``,
    the factor the image is resized by before the network (`model.test_scale`, which `load_model` reads from the
    checkpoint's meta: 1.5 for the shipped weights, 1 for weights without one)."""
    return {"test_scale": float(getattr(model, "test_scale", 1.0))}


def _sort_nodes(graph) -> None:
    """Reorder `graph.node` topologically (stable: nodes keep their order where they may)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError(f"the graph has a cycle or a missing input (at node {pending[0].name})")
        for n in ready:
            available.update(n.output)
        ordered += ready
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session for an exported file (clear error if the file is missing)."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeModel(torch.nn.Module):
    """An ONNX Runtime session behind the module interface that `predict` calls: NCHW float32 in, raw alpha out."""

    def __init__(self, session, size_mode: str = "pad"):
        super().__init__()
        self.session = session
        self.size_mode = size_mode
        # `predict` moves its input to the device and dtype of the model's first floating tensor.
        self.register_buffer("input_device_and_dtype", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x.detach().cpu().float().numpy())})
        return torch.from_numpy(out[0])


def onnx_max_difference(model: IndexNetMatting, path: str | os.PathLike, height: int = 128, width: int = 128,
                        seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| of the raw output on one random input (a quick check of an exported file)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, model.config.in_channels, height, width)).astype(np.float32)
    x[:, 3] = rng.choice(np.array([0, 128, 255], np.float32) / 255, (height, width))
    with torch.inference_mode():
        reference = copy.deepcopy(model).float().cpu().eval()(torch.from_numpy(x)).numpy()
    out = onnx_session(path).run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    return float(np.abs(out - reference).max())
