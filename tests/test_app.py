"""The Gradio demo (app.py): the `matte` endpoint through gradio_client against the app launched in-process,
every bad-input case (each followed by a request that works), and the trimap helpers behind the UI."""
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "indexnet" / "weights" / "indexnet_synthetic.pth"
GOLDEN = REPO.parent / "shared" / "golden" / "authors_random_checkpoint.pth.tar"
MAX_FILE_SIZE = "1mb"

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


def _checkpoint() -> Path:
    """The shipped weights when present, else the golden random checkpoint (same architecture)."""
    if SHIPPED.exists():
        return SHIPPED
    if GOLDEN.exists():
        return GOLDEN
    pytest.skip("neither indexnet/weights/indexnet_synthetic.pth nor "
                "../shared/golden/authors_random_checkpoint.pth.tar")


@pytest.fixture(scope="module")
def app_module():
    if _checkpoint() == SHIPPED:
        os.environ.pop("INDEXNET_CHECKPOINT", None)  # the app's real default, "synthetic"
    else:
        os.environ["INDEXNET_CHECKPOINT"] = str(GOLDEN)
    sys.path.insert(0, str(REPO))
    import importlib

    import app
    return importlib.reload(app)  # DEFAULT_SOURCE is read at import


@pytest.fixture(scope="module")
def server(app_module):
    demo = app_module.build_demo(cache_examples=False)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(), quiet=True,
                            **app_module.launch_kwargs(max_file_size=MAX_FILE_SIZE))
    yield demo, url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server[1], verbose=False)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------- test inputs
def _photo(h=120, w=160, seed=0) -> np.ndarray:
    """A smooth colourful image with a bright disc (the 'subject')."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 9.0)], axis=2) * 200
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    img[disc] = [240, 220, 60]
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _trimap(h=120, w=160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt((yy - h / 2) ** 2 + (xx - w / 2) ** 2)
    tri = np.full((h, w), 128, np.uint8)
    tri[r < min(h, w) / 3 - 6] = 255
    tri[r > min(h, w) / 3 + 6] = 0
    return tri


def _save(tmp_path, name, array, **kw) -> str:
    path = tmp_path / name
    Image.fromarray(array).save(path, **kw)
    return str(path)


def _matte(client, image_path, trimap_path) -> np.ndarray:
    out = client.predict(handle_file(image_path), handle_file(trimap_path), api_name="/matte")
    return np.asarray(Image.open(out))


def _assert_still_works(client, tmp_path):
    alpha = _matte(client, _save(tmp_path, "ok.png", _photo()), _save(tmp_path, "ok_trimap.png", _trimap()))
    assert alpha.shape == (120, 160)


# ------------------------------------------------------------------------------------- endpoint
def test_matte_equals_indexnet_predict(client, tmp_path):
    import indexnet
    from indexnet.inference import alpha_to_uint8

    image, trimap = _photo(), _trimap()
    path = _save(tmp_path, "photo.png", image)
    out = client.predict(handle_file(path), handle_file(_save(tmp_path, "trimap.png", trimap)), api_name="/matte")
    assert out.endswith(".png") and Path(out).name == "photo_alpha.png"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (160, 120)
        alpha = np.asarray(im)
    model = indexnet.load_model(_checkpoint())
    expected = alpha_to_uint8(indexnet.predict(model, indexnet.read_image(path), trimap))
    np.testing.assert_array_equal(alpha, expected)
    assert (alpha[trimap == 255] == 255).all() and (alpha[trimap == 0] == 0).all()


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "16bit", "jpeg"])
def test_unusual_images_work(client, tmp_path, kind):
    image = _photo()
    if kind == "grayscale":
        path = _save(tmp_path, "gray.png", image.mean(axis=2).astype(np.uint8))
    elif kind == "rgba":
        path = _save(tmp_path, "rgba.png", np.dstack([image, np.full(image.shape[:2], 200, np.uint8)]))
    elif kind == "16bit":
        import cv2
        path = str(tmp_path / "deep.png")
        cv2.imwrite(path, image[..., ::-1].astype(np.uint16) * 257)
    else:
        path = _save(tmp_path, "photo.jpg", image, quality=90)
    alpha = _matte(client, path, _save(tmp_path, "trimap.png", _trimap()))
    assert alpha.shape == (120, 160) and alpha.dtype == np.uint8


def test_large_image_is_downscaled_and_matte_upscaled(client, app_module, tmp_path, monkeypatch):
    import indexnet.inference
    seen = []
    real = indexnet.inference._run
    monkeypatch.setattr(app_module, "MAX_SIDE", 64)
    monkeypatch.setattr(indexnet.inference, "_run", lambda m, x: seen.append(x.shape) or real(m, x))
    trimap = _trimap()
    alpha = _matte(client, _save(tmp_path, "big.png", _photo()), _save(tmp_path, "trimap.png", trimap))
    assert seen == [(64, 64, 4)]  # 48 x 64 ("pad" to a multiple of 32), not 120 x 160
    assert alpha.shape == (120, 160)
    assert (alpha[trimap == 255] == 255).all() and (alpha[trimap == 0] == 0).all()


BAD_INPUTS = {
    # name: (make (image, trimap) files, expected words in the error)
    "size-mismatch": (lambda t: (_save(t, "a.png", _photo()), _save(t, "b.png", _trimap(60, 80))),
                      "trimap is 80×60 pixels but the image is 160×120"),
    "no-unknown": (lambda t: (_save(t, "a.png", _photo()), _save(t, "b.png", np.where(_trimap() == 128, 255, _trimap())
                                                                          .astype(np.uint8))),
                   "no unknown (grey) pixels"),
    "text-as-image": (lambda t: ((t / "notes.png").write_text("hello") and str(t / "notes.png"),
                                 _save(t, "b.png", _trimap())), "is not a readable image file"),
    "truncated-png": (lambda t: ((t / "cut.png").write_bytes((lambda p: Path(p).read_bytes()[:600])(
        _save(t, "full.png", _photo()))) and str(t / "cut.png"), _save(t, "b.png", _trimap())),
                      "damaged"),
    "photo-as-trimap": (lambda t: (_save(t, "a.png", _photo()), _save(t, "b.png", _photo(seed=1))),
                        "is a colour image"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_clear_error_then_next_request_works(client, tmp_path, case):
    make, words = BAD_INPUTS[case]
    image, trimap = make(tmp_path)
    with pytest.raises(AppError, match=re.escape(words)):
        client.predict(handle_file(image), handle_file(trimap), api_name="/matte")
    _assert_still_works(client, tmp_path)


def test_user_errors_log_one_line_internal_errors_their_traceback(client, app_module, tmp_path, monkeypatch, capfd,
                                                                  caplog):
    """A refused input is the user's mistake: one log line, no traceback (Gradio prints one for every gr.Error
    unless told not to). An unexpected error keeps its traceback, once, in the log."""
    caplog.set_level(logging.INFO, logger="indexnet.app")
    capfd.readouterr()
    image, trimap = BAD_INPUTS["no-unknown"][0](tmp_path)
    with pytest.raises(AppError, match=re.escape("no unknown (grey) pixels")):
        client.predict(handle_file(image), handle_file(trimap), api_name="/matte")
    records = [r for r in caplog.records if r.name == "indexnet.app"]
    assert [(r.exc_info, "\n" in r.getMessage()) for r in records] == [(None, False)]
    assert "no unknown (grey) pixels" in records[0].getMessage()
    assert "Traceback" not in capfd.readouterr().err

    caplog.clear()
    monkeypatch.setattr(app_module, "run_network", lambda *args: 1 / 0)
    with pytest.raises(AppError, match=re.escape("Something went wrong (ZeroDivisionError")):
        _matte(client, _save(tmp_path, "a.png", _photo()), _save(tmp_path, "b.png", _trimap()))
    records = [r for r in caplog.records if r.name == "indexnet.app"]
    assert len(records) == 1 and records[0].exc_info[0] is ZeroDivisionError  # the traceback, in the log
    assert "Traceback" not in capfd.readouterr().err  # and not a second time from Gradio


def test_too_many_pixels_is_refused(client, app_module, tmp_path, monkeypatch):
    from indexnet.images import UPLOAD_MAX_PIXELS
    if "INDEXNET_MAX_PIXELS" not in os.environ:
        assert app_module.MAX_PIXELS == UPLOAD_MAX_PIXELS  # the web page's limit too (web/indexnet.js)
    monkeypatch.setattr(app_module, "MAX_PIXELS", 10_000)
    with pytest.raises(AppError, match="megapixels"):
        _matte(client, _save(tmp_path, "a.png", _photo()), _save(tmp_path, "b.png", _trimap()))
    monkeypatch.undo()
    _assert_still_works(client, tmp_path)


def test_file_over_size_limit_is_refused(client, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)  # ~1.9 MB as PNG
    big = _save(tmp_path, "noise.png", noise)
    assert Path(big).stat().st_size > 1_000_000
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(big), handle_file(_save(tmp_path, "t.png", _trimap(800, 800))), api_name="/matte")
    _assert_still_works(client, tmp_path)


def test_concurrent_requests_run_one_at_a_time(client, app_module, tmp_path, monkeypatch):
    active, peak, lock = [0], [0], threading.Lock()
    real = app_module.run_network

    def counting(*args):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.2)
            return real(*args)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(app_module, "run_network", counting)
    image, trimap = _save(tmp_path, "a.png", _photo()), _save(tmp_path, "b.png", _trimap())
    jobs = [client.submit(handle_file(image), handle_file(trimap), api_name="/matte") for _ in range(2)]
    # the UI's button shares the one slot with the API: together they still run one at a time
    jobs.append(client.submit(handle_file(image), handle_file(trimap), None, "unknown", False, "default", 2048,
                              "#ff0000", None, api_name="/cut_out"))
    outs = [job.result(timeout=300) for job in jobs]
    assert all(Path(o).exists() for o in outs[:2]) and "Time:" in outs[2][4]
    assert peak[0] == 1


# --------------------------------------------------------------------------- the UI's handlers
def _ui(client, tmp_path, trimap, model="default", image=None, resize=False):
    """The 'Cut out' button with the Upload tab: returns the info text (the Markdown output)."""
    image = image or _save(tmp_path, "ui.png", _photo())
    out = client.predict(handle_file(image), handle_file(_save(tmp_path, "ui_trimap.png", trimap)), None, "unknown",
                         resize, model, 2048, "#ff0000", None, api_name="/cut_out")
    return out


def test_ui_outputs_and_info(client, tmp_path):
    out = _ui(client, tmp_path, _trimap())
    cutout, alpha, comp, slider, info, preview, files = out
    # the shipped weights run at their test scale, 1.5: the network sees 240 x 180
    assert "Processing size:** 240×180 — the image (160×120) enlarged ×1.5" in info
    assert "Time:" in info and "Model:" in info
    with Image.open(cutout["path"] if isinstance(cutout, dict) else cutout) as im:
        assert im.format == "PNG" and im.mode == "RGBA" and im.size == (160, 120)
    with Image.open(alpha["path"] if isinstance(alpha, dict) else alpha) as im:
        assert im.format == "PNG" and im.size == (160, 120)
    names = sorted(Path(f["path"] if isinstance(f, dict) else f).name for f in files)
    assert names == ["ui_alpha.png", "ui_cutout.png"]


def test_ui_warns_about_trimap_without_background(client, tmp_path):
    tri = _trimap()
    tri[tri == 0] = 128
    info = _ui(client, tmp_path, tri)[4]
    assert "no background (black) pixels" in info


def test_matte_errors_name_no_ui_controls(client, tmp_path):
    """/matte has no checkbox, tabs or settings: its messages must not send the caller looking for them."""
    cases = [(_trimap(60, 80), "the same size"), (np.where(_trimap() == 128, 255, _trimap()).astype(np.uint8),
                                                  "no unknown (grey) pixels")]
    for trimap, words in cases:
        with pytest.raises(AppError, match=re.escape(words)) as info:
            _matte(client, _save(tmp_path, "a.png", _photo()), _save(tmp_path, "b.png", trimap))
        assert not re.search(r"tick|'Resize|'Paint'|'Generate'|Settings", str(info.value)), str(info.value)


def test_bad_background_colour_is_a_clear_error(client, tmp_path):
    with pytest.raises(AppError, match=re.escape("'rgb(1,2)' is not a colour")):
        client.predict(handle_file(_save(tmp_path, "a.png", _photo())),
                       handle_file(_save(tmp_path, "b.png", _trimap())), None, "unknown", False, "default", 2048,
                       "rgb(1,2)", None, api_name="/cut_out")


def test_one_pixel_image_cuts_out(client, tmp_path):
    """pymatting's foreground estimation divides by zero on a single pixel."""
    out = client.predict(handle_file(_save(tmp_path, "dot.png", np.full((1, 1, 3), 200, np.uint8))),
                         handle_file(_save(tmp_path, "dot_trimap.png", np.full((1, 1), 128, np.uint8))), None,
                         "unknown", False, "default", 2048, "#ff0000", None, api_name="/cut_out")
    with Image.open(out[0]["path"] if isinstance(out[0], dict) else out[0]) as im:
        assert im.mode == "RGBA" and im.size == (1, 1)


def _bomb_png(path) -> None:
    """A valid PNG header declaring 30000 x 30000 pixels: Pillow refuses to open it (decompression bomb)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 30001))
                     + chunk(b"IEND", b""))


BAD_UPLOADS = {  # name: (write the file, words of the reader's message)
    "text": (lambda p: p.write_text("hello"), "is not a readable image file"),
    "zero-byte": (lambda p: p.write_bytes(b""), "is not a readable image file"),
    "svg-named-png": (lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'),
                      "is not a readable image file"),
    "decompression-bomb": (_bomb_png, "is 900 megapixels; at most 50 are accepted"),
    "float-tiff-0-255": (lambda p: __import__("cv2").imwrite(str(p), np.full((120, 160, 3), 200, np.float32)),
                         "float images must hold values in [0, 1]"),
}


@pytest.mark.parametrize("slot", ["photo", "trimap", "background"])
@pytest.mark.parametrize("kind", BAD_UPLOADS)
def test_bad_uploads_in_image_slots_get_the_readers_message(client, tmp_path, kind, slot):
    """The gr.Image slots hand files to the package's reader undecoded: a file Gradio's own decoder chokes on
    gets the reader's message, not a bare 'Error'."""
    write, words = BAD_UPLOADS[kind]
    bad = tmp_path / ("bad.tif" if kind.startswith("float") else "bad.png")
    write(bad)
    files = {"photo": _save(tmp_path, "a.png", _photo()), "trimap": _save(tmp_path, "b.png", _trimap()),
             "background": None}
    files[slot] = str(bad)
    if slot == "trimap" and kind.startswith("float"):
        words = "float trimaps must hold values in [0, 1]"
    with pytest.raises(AppError, match=re.escape(words)):
        client.predict(handle_file(files["photo"]), handle_file(files["trimap"]), None, "unknown", False,
                       "default", 2048, "#ff0000", files["background"] and handle_file(files["background"]),
                       api_name="/cut_out")
    if slot == "photo":  # the upload's own event (the photo goes to the editors) says the same
        with pytest.raises(AppError, match=re.escape(words)):
            client.predict(handle_file(str(bad)), api_name="/load_image")


def test_ui_resizes_trimap_when_asked(client, tmp_path):
    with pytest.raises(AppError, match="tick 'Resize the trimap"):
        _ui(client, tmp_path, _trimap(60, 80))
    info = _ui(client, tmp_path, _trimap(60, 80), resize=True)[4]
    assert "trimap resized from 80×60 to 160×120 (nearest-neighbour)" in info


def test_ui_official_model_offline_says_what_to_do(client, app_module, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached
    monkeypatch.setattr(app_module, "_online", lambda url, timeout=3.0: False)
    with pytest.raises(AppError, match="Could not download the 'mmagic-comp1k' weights.*Shipped weights"):
        _ui(client, tmp_path, _trimap(), model="mmagic-comp1k")
    assert "Processing size" in _ui(client, tmp_path, _trimap())[4]


def test_model_is_loaded_once(app_module):
    src = app_module.DEFAULT_SOURCE
    assert app_module.get_model(src) is app_module.get_model(src)


# ------------------------------------------------------------------------------- pure helpers
def test_painting_snaps_to_three_values_at_full_resolution(app_module):
    h, w = 90, 120
    layer = np.zeros((45, 60, 4), np.uint8)  # the canvas exported at half the photo's size
    layer[5:15, 5:15] = [255, 255, 255, 178]  # white at 70 % opacity
    layer[20:30, 5:15] = [128, 128, 128, 178]
    layer[35:40, 5:15] = [0, 0, 0, 255]
    layer[40:42, 30:40] = [250, 250, 250, 20]  # a faint anti-aliased fringe: not painted
    value = {"background": np.zeros((h, w, 3), np.uint8), "layers": [layer], "composite": None}
    for unpainted, rest in (("unknown", 128), ("background", 0)):
        tri = app_module.painted_trimap(value, (h, w), unpainted)
        assert tri.shape == (h, w) and set(np.unique(tri)) <= {0, 128, 255}
        assert (tri[10:30, 10:30] == 255).all() and (tri[40:60, 10:30] == 128).all()
        assert (tri[70:80, 10:30] == 0).all() and (tri[85:, 65:] == rest).all()


def test_empty_painting_is_an_error(app_module):
    import gradio as gr
    value = {"background": np.zeros((10, 10, 3), np.uint8), "layers": [np.zeros((10, 10, 4), np.uint8)]}
    with pytest.raises(gr.Error, match="Nothing is painted"):
        app_module.painted_trimap(value, (10, 10), "unknown")
    with pytest.raises(gr.Error, match="Upload an image first"):
        app_module.painted_trimap(None, (10, 10), "unknown")


def test_generate_tab_hints_become_a_trimap(app_module):
    around = np.zeros((120, 160, 4), np.uint8)
    around[15, 30:130] = around[105, 30:130] = around[15:105, 30] = around[15:105, 130] = [59, 130, 246, 255]
    value = {"background": np.zeros((120, 160, 3), np.uint8), "layers": [around], "composite": None}
    hints = app_module.hint_masks(value, (120, 160))
    assert hints["around"].sum() == (around[..., 3] > 0).sum() and not hints["subject"].any()


def test_examples_ship_with_their_trimaps(app_module):
    examples = app_module._examples()
    assert len(examples) >= 3
    for image, trimap in examples:
        assert Path(image).stat().st_size < 300_000 and Path(trimap).stat().st_size < 300_000
        im, tri = Image.open(image), np.asarray(Image.open(trimap))
        assert tri.shape == im.size[::-1] and set(np.unique(tri)) == {0, 128, 255}


@pytest.mark.parametrize("scale, shape, max_side, expected", [
    (1.5, (120, 160), 2048, "240×180 — the image (160×120) enlarged ×1.5 (these weights' test scale)"),
    (1.5, (533, 800), 1024, "1024×683 — the image (800×533) enlarged ×1.28 (these weights' test scale ×1.5, "
                            "capped by the 1024 px limit)"),
    (1.5, (1500, 2000), 1024, "1024×768 — the image (2000×1500) was downscaled to fit the 1024 px limit"),
    (1.5, (455, 683), 1024, "1024×682 — the image (683×455) enlarged ×1.5 (these weights' test scale)"),
    (1.0, (120, 160), 2048, "160×120 (full resolution)"),
    (0.5, (120, 160), 2048, "80×60 — the image (160×120) reduced ×0.5"),
])
def test_processing_size_text_says_how_the_network_saw_the_image(app_module, scale, shape, max_side, expected):
    model = type("Weights", (), {"test_scale": scale})()
    assert app_module.processing_size_text(model, shape, max_side).startswith(expected)


def test_the_main_button_turns_errors_into_messages(app_module):
    # _friendly maps out-of-memory and unexpected errors to gr.Error messages instead of a traceback
    assert hasattr(app_module.run_matting, "__wrapped__")


# ----------------------------------------------------------------- no trimap: the subject found automatically
def test_a_photo_alone_cuts_out_with_the_automatic_trimap(server, subject_model, tmp_path):
    """The photo's upload event finds the subject (/find_subject follows /load_image); 'Cut out' with no trimap
    then uses it. A fresh client: its own session, so no other test sees this automatic trimap."""
    client = Client(server[1], verbose=False)
    photo = _save(tmp_path, "photo.png", _photo())
    client.predict(handle_file(photo), api_name="/load_image")
    client.predict(handle_file(photo), None, 0, "u2netp", api_name="/find_subject")
    out = client.predict(handle_file(photo), None, None, "unknown", False, "default", 2048, "#ff0000", None,
                         api_name="/cut_out")
    info, alpha = out[4], np.asarray(Image.open(out[1]))
    assert "no trimap uploaded: the automatic one was used" in info
    disc = _trimap() == 255  # the photo's bright disc, eroded
    assert alpha[disc].mean() > 240 and alpha[_trimap() == 0].mean() < 15


def test_a_click_and_marks_correct_the_automatic_trimap(app_module, subject_model, tmp_path):
    h, w = 120, 200
    image = np.full((h, w, 3), (70, 130, 180), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    red, yellow = np.hypot(yy - 60, xx - 55) < 28, np.hypot(yy - 60, xx - 150) < 24
    image[red], image[yellow] = (220, 60, 40), (240, 220, 70)
    photo = _save(tmp_path, "two.png", image)
    subject, trimap = app_module.find_subject_trimap(photo, None, None, None, 0, "u2netp")
    assert trimap.shape == (h, w) and subject["probability"].shape == (h, w)
    _, clicked = app_module.find_subject_trimap(photo, subject, None, (150, 60), 0, "u2netp")  # on the yellow disc
    assert clicked[60, 150] == 255 and clicked[60, 55] == 0
    strokes = np.zeros((h, w, 4), np.uint8)
    strokes[58:62, 40:70] = [239, 68, 68, 255]  # red: the red disc is background
    marks = {"background": image, "layers": [strokes], "composite": None}
    _, marked = app_module.find_subject_trimap(photo, subject, marks, None, 6, "u2netp")
    assert marked[60, 55] == 0 and marked[60, 150] == 255
    assert app_module.resolve_trimap("upload", image, None, None, "unknown", clicked, False)[0] is clicked


def test_an_optional_subject_model_offline_says_so(app_module, monkeypatch, tmp_path):
    import gradio as gr
    monkeypatch.setenv("REMBG_HOME", str(tmp_path))
    monkeypatch.setattr(app_module, "_online", lambda url, timeout=3.0: False)
    with pytest.raises(gr.Error, match="no internet connection: pick u2netp"):
        app_module.get_subject_model("u2net")
