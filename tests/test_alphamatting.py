"""download_alphamatting: official zips (built here, served from localhost) -> the layout AlphamattingDataset reads."""
import functools
import http.server
import io
import threading
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from indexnet.alphamatting import ZIPS, download_alphamatting
from indexnet.evaluate import AlphamattingDataset

NAMES = ("GT01", "GT02")


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def _case(index: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(index)
    trimap = np.zeros((24, 32), np.uint8)
    trimap[6:18, 8:24] = 128
    trimap[10:14, 12:20] = 255
    wide = trimap.copy()
    wide[4:20, 4:28][wide[4:20, 4:28] == 0] = 128
    return {"image": rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
            "alpha": rng.integers(0, 256, (24, 32), dtype=np.uint8), "trimap1": trimap, "trimap2": wide}


CASES = {name: _case(i) for i, name in enumerate(NAMES)}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def official_zips(folder: Path) -> Path:
    """The three zips as alphamatting.com lays them out (BGR on disk, as PNG files are), written to `folder`."""
    folder.mkdir(parents=True)
    zips = {
        "input_training_lowres.zip": _zip({f"input_training_lowres/{n}.png": _png(c["image"][..., ::-1])
                                           for n, c in CASES.items()}),
        "gt_training_lowres.zip": _zip({f"gt_training_lowres/{n}.png": _png(c["alpha"]) for n, c in CASES.items()}),
        "trimap_training_lowres.zip": _zip({f"trimap_training_lowres/Trimap{k}/{n}.png": _png(c[f"trimap{k}"])
                                            for n, c in CASES.items() for k in (1, 2)}),
    }
    for name, data in zips.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def zip_server(tmp_path):
    """The official zips on a localhost HTTP server; yields (base URL, list of requested paths)."""
    site = official_zips(tmp_path / "site")
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", requests
    server.shutdown()


def _assert_dataset_matches(root):
    dataset = AlphamattingDataset(root, names=NAMES)
    assert [item["name"] for item in dataset.items] == ["GT01/trimap1", "GT02/trimap1", "GT01/trimap2", "GT02/trimap2"]
    for index in range(len(dataset)):
        sample = dataset[index]
        name, trimap_dir = sample["name"].split("/")
        for key, expected in (("image", CASES[name]["image"]), ("alpha", CASES[name]["alpha"]),
                              ("trimap", CASES[name][trimap_dir])):
            np.testing.assert_array_equal(sample[key], expected, err_msg=sample["name"] + " " + key)


def test_download_unpacks_into_the_dataset_layout_once(tmp_path, zip_server):
    url, requests = zip_server
    dest = download_alphamatting(tmp_path / "am", base_url=url, progress=False)
    _assert_dataset_matches(dest)
    assert sorted(p.name for p in (dest / "zips").iterdir()) == sorted(ZIPS)
    assert sorted(requests) == sorted(f"/{name}" for name in ZIPS)
    download_alphamatting(dest, base_url=url, progress=False)  # cached zips: no second download
    download_alphamatting(dest, download=False)
    assert len(requests) == len(ZIPS)


def test_local_zips_in_another_layout_need_no_network(tmp_path):
    """Copies downloaded by hand, re-zipped flat or with lower-case folders, with macOS litter."""
    zips = tmp_path / "downloads"
    zips.mkdir()
    (zips / "input_training_lowres.zip").write_bytes(_zip(
        {**{f"{n}.png": _png(c["image"][..., ::-1]) for n, c in CASES.items()}, "__MACOSX/._GT01.png": b"junk"}))
    (zips / "gt_training_lowres.zip").write_bytes(_zip({f"gt/{n.lower()}.png": _png(c["alpha"])
                                                        for n, c in CASES.items()}))
    (zips / "trimap_training_lowres.zip").write_bytes(_zip({f"trimap_{k}/{n}.png": _png(c[f"trimap{k}"])
                                                            for n, c in CASES.items() for k in (1, 2)}))
    dest = download_alphamatting(tmp_path / "am", zip_dir=zips, download=False)
    _assert_dataset_matches(dest)
    assert not (dest / "zips").exists()


def test_bad_zips_and_missing_zips_are_clear_errors(tmp_path, zip_server):
    url, _ = zip_server
    with pytest.raises(FileNotFoundError, match="input_training_lowres.zip is not in .*downloading is disabled"):
        download_alphamatting(tmp_path / "none", download=False)
    with pytest.raises(ConnectionError, match="could not download .*input_training_lowres.zip"):
        download_alphamatting(tmp_path / "404", base_url=url + "missing/", progress=False)
    assert not (tmp_path / "404").exists()  # a failed download leaves nothing: no half file, no empty zips/
    assert not list(tmp_path.glob(".404.*"))  # nor its temporary folder

    zips = official_zips(tmp_path / "zips")
    (zips / "gt_training_lowres.zip").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="gt_training_lowres.zip is not a readable zip"):
        download_alphamatting(tmp_path / "am", zip_dir=zips, download=False)
    (zips / "gt_training_lowres.zip").write_bytes(_zip({"readme.txt": b"nothing"}))
    with pytest.raises(ValueError, match="holds no GTxx.png images"):
        download_alphamatting(tmp_path / "am", zip_dir=zips, download=False)
    (zips / "gt_training_lowres.zip").write_bytes(_zip({"gt/GT01.png": _png(CASES["GT01"]["alpha"])}))
    with pytest.raises(ValueError, match=r"missing after unpacking: GT02 \(alpha\)"):
        download_alphamatting(tmp_path / "am2", zip_dir=zips, download=False)
    (zips / "trimap_training_lowres.zip").write_bytes(_zip({"trimaps/GT01.png": b"x"}))
    with pytest.raises(ValueError, match="cannot tell whether trimaps/GT01.png is a Trimap1 or a Trimap2"):
        download_alphamatting(tmp_path / "am3", zip_dir=zips, download=False)


def test_zip_folder_given_means_no_download(tmp_path, zip_server):
    """--zips DIR: a zip that is not there is an error, even with downloading allowed; nothing is fetched."""
    url, requests = zip_server
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is not in .*empty or .* nothing is downloaded when zip_dir"):
        download_alphamatting(tmp_path / "am", zip_dir=tmp_path / "empty", base_url=url, progress=False)
    with pytest.raises(FileNotFoundError, match="zip folder .*nowhere does not exist"):
        download_alphamatting(tmp_path / "am", zip_dir=tmp_path / "nowhere", base_url=url, progress=False)
    assert requests == [] and not (tmp_path / "am").exists()


def test_an_incomplete_set_is_not_unpacked(tmp_path):
    """A zip missing one alpha: nothing moves into place (the earlier copy, if any, stays as it was)."""
    zips = official_zips(tmp_path / "zips")
    download_alphamatting(tmp_path / "am", zip_dir=zips, download=False)
    before = {p: p.read_bytes() for p in (tmp_path / "am").rglob("*") if p.is_file()}
    (zips / "gt_training_lowres.zip").write_bytes(_zip({"gt/GT01.png": _png(255 - CASES["GT01"]["alpha"])}))
    for dest in (tmp_path / "fresh", tmp_path / "am"):
        with pytest.raises(ValueError, match=r"missing after unpacking: GT02 \(alpha\)"):
            download_alphamatting(dest, zip_dir=zips, download=False)
    assert not (tmp_path / "fresh").exists()
    assert {p: p.read_bytes() for p in (tmp_path / "am").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["am", "zips"]  # no temporary folder left


def test_members_cannot_write_outside_the_destination(tmp_path):
    zips = official_zips(tmp_path / "zips")
    (zips / "input_training_lowres.zip").write_bytes(_zip(
        {f"../../escaped/{n}.png": _png(c["image"][..., ::-1]) for n, c in CASES.items()}))
    dest = download_alphamatting(tmp_path / "deep" / "am", zip_dir=zips, download=False)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
    assert sorted(p.name for p in (dest / "image").iterdir()) == ["GT01.png", "GT02.png"]


def test_cli_fetches_the_set(tmp_path, zip_server, capsys):
    from indexnet.__main__ import main
    url, _ = zip_server
    assert main(["data", "alphamatting", "--out", str(tmp_path / "am"), "--base-url", url]) == 0
    assert "2 photos with alpha and two trimaps each" in capsys.readouterr().out
    _assert_dataset_matches(tmp_path / "am")
    assert main(["data", "alphamatting", "--out", str(tmp_path / "other"), "--no-download"]) == 2
    assert capsys.readouterr().err.startswith("error: input_training_lowres.zip is not in")
