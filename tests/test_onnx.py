"""ONNX export: ONNX Runtime (CPU) against PyTorch on the golden checkpoints and the shipped weights, the golden
test-time paths through the exported graph, float16, dynamic sizes, the weights' runtime settings (test scale) in
the file and in the JSON the web page reads, and the `onnx` command."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
import onnx  # noqa: E402

from indexnet import export_onnx, load_model, predict, read_image, read_trimap, save_checkpoint  # noqa: E402
from indexnet.inference import network_input  # noqa: E402
from indexnet.onnx_export import (INPUT_NAME, OUTPUT_NAME, OnnxRuntimeModel, onnx_session,  # noqa: E402
                                  runtime_settings)

REPO = Path(__file__).resolve().parents[1]
SIZES = [(320, 320), (224, 352)]  # H x W, multiples of 32; the second not square


@pytest.fixture(scope="module")
def shipped_model():
    return load_model("synthetic")


@pytest.fixture(scope="module")
def models(authors_model, mmagic_model, shipped_model):
    return {"authors": authors_model, "mmagic": mmagic_model, "shipped": shipped_model}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """name -> ONNX Runtime session of the float32 export (exported once per module)."""
    folder = tmp_path_factory.mktemp("onnx")
    return {name: onnx_session(export_onnx(model, folder / f"{name}.onnx")) for name, model in models.items()}


def _input(height: int, width: int, seed: int = 0) -> np.ndarray:
    """1 x 4 x H x W: a smooth random image and a three-level trimap, as `network_input` makes them."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3)).astype(np.uint8)
    image = np.kron(small, np.ones((8, 8, 1), np.uint8))
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), (height // 16, width // 16))
    trimap = np.kron(trimap, np.ones((16, 16), np.uint8))
    return network_input(image, trimap).transpose(2, 0, 1)[None].copy()


def _torch_raw(model, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", ["authors", "mmagic", "shipped"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_raw_output_matches_pytorch(models, exported, name, size):
    x = _input(*size)
    out = exported[name].run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    reference = _torch_raw(models[name], x)
    assert out.shape == reference.shape == (1, 1, *size)
    diff = float(np.abs(out - reference).max())
    print(f"{name} {size[0]}x{size[1]}: ONNX Runtime fp32 raw max |diff| {diff:.1e}")
    assert diff <= 1e-4


def test_dynamic_batch(models, exported):
    x = np.concatenate([_input(64, 96, seed=1), _input(64, 96, seed=2)])
    out = exported["authors"].run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    np.testing.assert_allclose(out, _torch_raw(models["authors"], x), atol=1e-4)


def test_golden_test_time_paths_through_onnx(golden_dir, exported):
    """The authors' demo path and MMagic's pad path, with the exported graph in place of the network."""
    g = np.load(golden_dir / "authors_parity.npz")
    raw = predict(OnnxRuntimeModel(exported["authors"]), g["case333x517_image"], g["case333x517_trimap"],
                  size_mode="resize", return_raw=True)[1]
    np.testing.assert_allclose(raw, g["case333x517_raw_output"][0, 0], atol=1e-4)
    g = np.load(golden_dir / "mmagic_parity_wellcond.npz")
    alpha = predict(OnnxRuntimeModel(exported["mmagic"]), g["case333x517_image_rgb"], g["case333x517_trimap"],
                    size_mode="pad")
    np.testing.assert_allclose(alpha, g["case333x517pad_alpha_float"], atol=2e-4)


def test_float16_export(shipped_model, exported, tmp_path):
    """Half the file; the raw output moves by a few 1e-3 and the matte of a real example by well under 1/255."""
    path = export_onnx(shipped_model, tmp_path / "fp16.onnx", fp16=True)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert {p.key: p.value for p in graph.metadata_props}["precision"] == "float16"
    assert [i.type.tensor_type.elem_type for i in (*graph.graph.input, *graph.graph.output)] == \
        [onnx.TensorProto.FLOAT] * 2  # float32 in and out whatever the weights
    session = onnx_session(path)
    raw_diff = max(float(np.abs(session.run([OUTPUT_NAME], {INPUT_NAME: _input(*size)})[0]
                                - _torch_raw(shipped_model, _input(*size))).max()) for size in SIZES)
    image, trimap = read_image(REPO / "examples" / "chelsea.jpg"), read_trimap(REPO / "examples" / "chelsea_trimap.png")
    alpha16 = predict(OnnxRuntimeModel(session), image, trimap)
    alpha32 = predict(OnnxRuntimeModel(exported["shipped"]), image, trimap)
    mean_diff = float(np.abs(alpha16 - alpha32).mean())
    print(f"shipped fp16: raw max |diff| {raw_diff:.1e}; chelsea alpha mean |diff| {mean_diff * 255:.3f}/255, "
          f"max {np.abs(alpha16 - alpha32).max() * 255:.1f}/255")
    # Random inputs reach activations real images do not: the stage-3 weights move them by up to ~0.1 there
    # (0.017 with the stage-2 weights), while the matte of a real example stays far below 1/255.
    assert raw_diff < 0.15 and mean_diff < 0.25 / 255


def test_runtime_settings(models, exported):
    """The scale `predict` runs the weights at by default travels with the export: the shipped weights' 1.5 from
    their checkpoint meta, 1 for the official ones (no meta), also in the ONNX file's metadata."""
    assert runtime_settings(models["shipped"]) == {"test_scale": 1.5}
    assert runtime_settings(models["authors"]) == runtime_settings(models["mmagic"]) == {"test_scale": 1.0}
    assert exported["shipped"].get_modelmeta().custom_metadata_map["test_scale"] == "1.5"
    assert exported["authors"].get_modelmeta().custom_metadata_map["test_scale"] == "1.0"


def test_export_refuses_other_modules(tmp_path):
    with pytest.raises(TypeError, match="IndexNetMatting"):
        export_onnx(torch.nn.Conv2d(4, 1, 3), tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_onnx_command(authors_model, tmp_path):
    """`--json` writes the checkpoint's test scale from its meta (as web/build.sh does for web/model.json)."""
    checkpoint = tmp_path / "scaled.pth"
    save_checkpoint(checkpoint, authors_model, meta={"test_scale": 1.25})
    out = tmp_path / "sub" / "model.onnx"
    r = subprocess.run([sys.executable, "-m", "indexnet", "onnx", "--checkpoint", str(checkpoint), "--out", str(out),
                        "--json", str(out.with_suffix(".json"))], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "max |diff|" in r.stdout and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.json", "model.onnx"]  # no temporary file left
    assert json.loads(out.with_suffix(".json").read_text()) == {"checkpoint": str(checkpoint), "test_scale": 1.25}
    r = subprocess.run([sys.executable, "-m", "indexnet", "onnx", "--checkpoint", str(tmp_path / "missing.pth"),
                        "--out", str(tmp_path / "x.onnx")], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "missing.pth" in r.stderr and "Traceback" not in r.stderr
