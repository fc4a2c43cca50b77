"""`python -m indexnet`: a bad file in a folder costs only that file; user mistakes are one-line errors."""
import re

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
    commands = re.search(r"\{([a-z,]+)\}", text).group(1).split(",")
    assert {"predict", "evaluate", "train", "export"} <= set(commands)
    # every list of commands in the help (the description's included) is the full list
    assert all(group.split(",") == commands for group in re.findall(r"\{([a-z,]+)\}", text)), text


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
