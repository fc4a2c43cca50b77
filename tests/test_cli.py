"""`python -m indexnet`: a bad file in a folder costs only that file; user mistakes are one-line errors."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from indexnet.__main__ import main
from indexnet import write_png


@pytest.fixture
def folders(tmp_path):
    """img/ and tri/ with two good pairs (a, c), an unreadable image (b) and a trimap of the wrong size (d)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    trimap = np.zeros((40, 48), np.uint8)
    trimap[8:32, 8:40] = 128
    for name in ("a", "b", "c", "d"):
        write_png(tmp_path / "img" / f"{name}.png", image)
        write_png(tmp_path / "tri" / f"{name}.png", trimap[:20] if name == "d" else trimap)
    (tmp_path / "img" / "b.png").write_bytes(b"this is not a PNG")
    return tmp_path


def _predict(golden_dir, *args) -> int:
    return main(["predict", "--checkpoint", str(golden_dir / "authors_random_checkpoint.pth.tar"), *args])


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr and stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_folder_prediction_continues_past_bad_files_and_names_them(golden_dir, folders, capsys):
    code = _predict(golden_dir, "--image", str(folders / "img"), "--trimap", str(folders / "tri"),
                    "--out", str(folders / "out"))
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in (folders / "out").iterdir()) == ["a.png", "c.png"]
    assert "wrote 2 alpha matte(s)" in captured.out
    assert "error: 2 of 4 image(s) failed:" in captured.err
    failed = re.findall(r"^  (\S+): ", captured.err, flags=re.M)
    assert failed == ["b.png", "d.png"], captured.err
    assert "b.png" in captured.err.split("b.png: ", 1)[1].split("\n")[0]  # the reason names the file
    assert "same size" in captured.err


def test_out_must_fit_the_input(golden_dir, folders, capsys):
    single = ["--image", str(folders / "img" / "a.png"), "--trimap", str(folders / "tri" / "a.png")]
    assert _predict(golden_dir, *single, "--out", str(folders / "img")) == 2
    assert "is a folder; for one image --out must be a file name" in _one_line_error(capsys.readouterr().err)
    (folders / "taken.png").write_bytes(b"")
    assert _predict(golden_dir, "--image", str(folders / "img"), "--trimap", str(folders / "tri"),
                    "--out", str(folders / "taken.png")) == 2
    assert "is a file; for folders of images --out must be a folder" in _one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("device, message", [("bogus", "'bogus' is not a device name"),
                                             ("cuda", "no CUDA GPU is available"),
                                             ("cuda:x", "is not a device name")])
def test_unusable_device_is_a_one_line_error(golden_dir, folders, capsys, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    code = _predict(golden_dir, "--image", str(folders / "img" / "a.png"), "--trimap", str(folders / "tri" / "a.png"),
                    "--out", str(folders / "a.png"), "--device", device)
    assert code == 2
    assert message in _one_line_error(capsys.readouterr().err)
    assert not (folders / "a.png").exists()


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    commands = re.search(r"\{([a-z,-]+)\}", text).group(1).split(",")
    assert {"predict", "evaluate", "train", "export", "cutout", "fetch-subject-model"} <= set(commands)
    # every list of commands in the help (the description's included) is the full list
    assert all(group.split(",") == commands for group in re.findall(r"\{([a-z,-]+)\}", text)), text


def test_folder_prediction_survives_an_unexpected_error_in_one_image(golden_dir, folders, capsys, monkeypatch):
    import indexnet.inference
    real_predict, calls = indexnet.inference.predict, []

    def predict_failing_once(*args, **kwargs):  # e.g. one photo too large for the memory left
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("not enough memory")
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(indexnet.inference, "predict", predict_failing_once)
    (folders / "img" / "b.png").unlink()
    (folders / "tri" / "d.png").unlink()
    code = _predict(golden_dir, "--image", str(folders / "img"), "--trimap", str(folders / "tri"),
                    "--out", str(folders / "out"))
    err = capsys.readouterr().err
    assert code == 1 and "a.png: RuntimeError: not enough memory" in err
    assert sorted(p.name for p in (folders / "out").iterdir()) == ["c.png"]


@pytest.fixture
def no_model(monkeypatch):
    """Checks that must come before any work: loading the model fails the test."""
    import indexnet.checkpoint
    monkeypatch.setattr(indexnet.checkpoint, "load_model", lambda *a, **k: pytest.fail("the model must not load"))


def _contents(folder) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_outputs_that_are_inputs_are_refused(golden_dir, folders, capsys, no_model):
    """The photo replaced by its matte, the trimaps by mattes: refused before anything runs or is written."""
    before = _contents(folders)
    image, trimap = folders / "img" / "a.png", folders / "tri" / "a.png"
    runs = [["predict", "--image", str(image), "--trimap", str(trimap), "--out", str(image)],
            ["predict", "--image", str(image), "--trimap", str(trimap), "--out", f"{folders}/img/../tri/a.png"],
            ["predict", "--image", str(folders / "img"), "--trimap", str(folders / "tri"), "--out", str(folders / "tri")],
            ["predict", "--image", str(folders / "img"), "--trimap", str(folders / "tri"), "--out", str(folders / "img")],
            ["cutout", "--image", str(image), "--trimap", str(trimap), "--out", str(image)]]
    for argv in runs:
        assert main(argv) == 2, argv
        assert "writing there would replace the input" in _one_line_error(capsys.readouterr().err)
    assert _contents(folders) == before


def test_outputs_are_checked_before_any_work(golden_dir, folders, capsys, no_model, monkeypatch):
    import tempfile
    single = ["predict", "--image", str(folders / "img" / "a.png"), "--trimap", str(folders / "tri" / "a.png")]
    assert main([*single, "--out", str(folders / "a.jpg")]) == 2
    assert "give it a .png name" in _one_line_error(capsys.readouterr().err)
    (folders / "file").write_bytes(b"")
    assert main([*single, "--out", str(folders / "file" / "sub" / "a.png")]) == 2  # was [Errno 17] File exists
    assert f"lies under {folders / 'file'}, which is a file" in _one_line_error(capsys.readouterr().err)
    readonly = folders / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    real = tempfile.TemporaryFile

    def temporary_file(*args, dir=None, **kwargs):  # as a read-only folder behaves for users other than root
        if dir is not None and Path(dir) == readonly:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)
    for argv in ([*single, "--out", str(readonly / "a.png")],
                 ["predict", "--image", str(folders / "img"), "--trimap", str(folders / "tri"), "--out", str(readonly)],
                 ["predict", "--image", str(folders / "img"), "--trimap", str(folders / "tri"),
                  "--out", str(readonly / "new")]):
        assert main(argv) == 2, argv
        assert f"cannot write in {readonly} (Permission denied)" in _one_line_error(capsys.readouterr().err)
    assert not list(readonly.iterdir())
    readonly.chmod(0o755)


class _Hungry(torch.nn.Module):
    """A network whose every run fails as PyTorch's CPU allocator does when memory cannot suffice."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.test_scale, self.size_mode = 1.0, "pad"

    def forward(self, x):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                           "you tried to allocate 22000000000 bytes.")


def test_the_network_size_is_bounded_by_default(golden_dir, folders, capsys, monkeypatch):
    import indexnet.checkpoint
    import indexnet.inference
    from indexnet import predict
    seen = []

    def run(model, x):  # the network, replaced: only the size it is handed matters here
        seen.append(x.shape[:2])
        return np.zeros(x.shape[:2], np.float32)

    monkeypatch.setattr(indexnet.inference, "_run", run)
    trimap = np.full((3000, 100), 128, np.uint8)
    predict(_Hungry(), np.zeros((3000, 100, 3), np.uint8), trimap)
    predict(_Hungry(), np.zeros((3000, 100, 3), np.uint8), trimap, scale=np.float32(1e12))  # numpy scalars welcome
    assert [max(shape) for shape in seen] == [2048, 2048]
    predict(_Hungry(), np.zeros((3000, 100, 3), np.uint8), trimap, max_side=None)
    assert max(seen[-1]) == 3008  # 3000 padded to a multiple of 32: no bound when asked for none
    with pytest.raises(ValueError, match="scale 1e\\+12 would hand the network .* at most 179 megapixels"):
        predict(_Hungry(), np.zeros((30, 10, 3), np.uint8), trimap[:30, :10], scale=1e12, max_side=None)
    with pytest.raises(ValueError, match="scale 1e\\+308 would hand the network"):
        predict(_Hungry(), np.zeros((30, 10, 3), np.uint8), trimap[:30, :10], scale=1e308)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "(default: 2048; 0: no bound" in " ".join(capsys.readouterr().out.split())

    monkeypatch.setattr(indexnet.checkpoint, "load_model", lambda *a, **k: _Hungry())
    single = ["--image", str(folders / "img" / "a.png"), "--trimap", str(folders / "tri" / "a.png")]
    assert main(["predict", *single, "--out", str(folders / "a.png"), "--scale", "1e12", "--max-side", "0"]) == 2
    assert "at most 179 megapixels" in _one_line_error(capsys.readouterr().err)  # was a raw cv2.error
    for scale in ("0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            main(["predict", *single, "--out", str(folders / "a.png"), "--scale", scale])
        assert "--scale: invalid" in capsys.readouterr().err


def test_not_enough_memory_is_one_line(folders, capsys, monkeypatch):
    import indexnet.checkpoint
    from indexnet import predict
    with pytest.raises(MemoryError, match="not enough memory to run the network at 64×64 pixels: give a smaller "
                                          "max_side"):
        predict(_Hungry(), np.zeros((40, 48, 3), np.uint8), np.full((40, 48), 128, np.uint8))
    monkeypatch.setattr(indexnet.checkpoint, "load_model", lambda *a, **k: _Hungry())
    for command in ("predict", "cutout"):
        assert main([command, "--image", str(folders / "img" / "a.png"), "--trimap", str(folders / "tri" / "a.png"),
                     "--out", str(folders / "a.png")]) == 2
        assert "not enough memory to run the network" in _one_line_error(capsys.readouterr().err)
    assert not (folders / "a.png").exists()


def test_messages_name_what_was_given(folders, capsys, golden_dir):
    from indexnet import predict, read_image
    image, trimap = folders / "img" / "a.png", folders / "tri" / "a.png"
    with pytest.raises(ValueError, match=r"got the file name '.*a.png', expected the image itself: read it with "
                                         r"indexnet.read_image"):
        predict(None, str(image), trimap)
    with pytest.raises(ValueError, match="read it with indexnet.read_trimap"):
        predict(None, read_image(image), trimap)
    assert _predict(golden_dir, "--image", str(folders / "img"), "--trimap", str(trimap), "--out",
                    str(folders / "x.png")) == 2  # a folder and a file
    capsys.readouterr()
    assert main(["cutout", "--image", str(folders / "img"), "--trimap", str(trimap), "--out",
                 str(folders / "x.png")]) == 2
    assert f"the image {folders / 'img'} is a folder; expected an image file" in _one_line_error(capsys.readouterr().err)
    (folders / "tri" / "c.tif").write_bytes((folders / "tri" / "c.png").read_bytes())
    assert _predict(golden_dir, "--image", str(folders / "img"), "--trimap", str(folders / "tri"), "--out",
                    str(folders / "out")) == 2
    assert "holds both c.png and c.tif" in _one_line_error(capsys.readouterr().err)
    assert not (folders / "out").exists()
