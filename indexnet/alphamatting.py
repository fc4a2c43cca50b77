"""The public alphamatting.com low-resolution training set (Rhemann et al., "A Perceptually Motivated
Online Benchmark for Image Matting", CVPR 2009), fetched only when asked.

27 photographs of real objects (GT01-GT27) with ground-truth alpha from triangulation matting and two
hand-drawn trimaps each (`Trimap1` tight, `Trimap2` wider). `download_alphamatting(dest)` fetches the
three official zips (or takes copies downloaded by hand), keeps them in ``dest/zips`` and unpacks them
into the layout that `indexnet.evaluate.AlphamattingDataset` and the training's real foregrounds read:

    dest/image/GT01.png    dest/alpha/GT01.png    dest/trimap1/GT01.png    dest/trimap2/GT01.png

Nothing here touches the network at import; only `download_alphamatting` (or
`python -m indexnet data alphamatting --out DIR`) does.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .checkpoint import atomic_file, download_file

BASE_URL = "http://www.alphamatting.com/datasets/zip/"
# zip file name -> the folder its images go to (trimaps: one folder per Trimap1 / Trimap2 subfolder)
ZIPS = {"input_training_lowres.zip": "image", "gt_training_lowres.zip": "alpha",
        "trimap_training_lowres.zip": "trimap"}
FOLDERS = ("image", "alpha", "trimap1", "trimap2")
_PHOTO = re.compile(r"^(gt\d\d)\.png$", re.IGNORECASE)
_TRIMAP_FOLDER = re.compile(r"^trimap_?([12])$", re.IGNORECASE)


def download_alphamatting(dest: str | os.PathLike, zip_dir: str | os.PathLike | None = None, download: bool = True,
                          base_url: str = BASE_URL, progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch and unpack the alphamatting.com low-res training set into `dest`; returns `dest`.

    Each zip is taken from `zip_dir` (copies downloaded by hand: then nothing is downloaded) or ``dest/zips``
    (an earlier call) if it is there, else downloaded from `base_url` into ``dest/zips`` (only with
    `download=True`). Downloads and unpacking happen in a temporary folder beside `dest`; only a complete set
    moves into ``image/``, ``alpha/``, ``trimap1/``, ``trimap2/`` (file by file, replacing older copies), so a
    failed call leaves `dest` as it was. Raises FileNotFoundError for a zip that is neither present nor to be
    downloaded, ConnectionError for a failed download, ValueError for a zip that does not hold the expected
    images."""
    dest = Path(dest).expanduser()
    cache = dest / "zips"
    local = Path(zip_dir).expanduser() if zip_dir is not None else None
    if local is not None and not local.is_dir():
        raise FileNotFoundError(f"zip folder {local} does not exist (zip_dir, --zips: the folder holding the three "
                                f"official zips, {', '.join(ZIPS)})")
    sources = {name: next((p for p in (local and local / name, cache / name) if p and p.is_file()), None)
               for name in ZIPS}
    missing = [name for name, path in sources.items() if path is None]
    if missing and (local is not None or not download):  # checked before anything is fetched or written
        where = f"{local} or {cache}" if local is not None else str(cache)
        why = "nothing is downloaded when zip_dir (--zips) is given" if local is not None else \
            "downloading is disabled"
        raise FileNotFoundError(f"{missing[0]} is not in {where} and {why}; get it from {base_url}{missing[0]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        for name in missing:
            url = base_url.rstrip("/") + "/" + name
            sources[name] = staging / "zips" / name
            sources[name].parent.mkdir(exist_ok=True)
            try:
                # No hash prefix: the site publishes none, and unpacking checks every file the zip must hold.
                download_file(url, sources[name], progress=progress, timeout=timeout)
            except Exception as err:  # offline, DNS failure, HTTP error
                raise ConnectionError(f"could not download {url}: {err}. Without internet access, download the "
                                      f"three zips by hand and pass their folder as zip_dir (--zips)") from err
        for name, folder in ZIPS.items():
            unpack(sources[name], staging, folder)
        _check_complete(staging, dest)
        for folder in (*FOLDERS, "zips"):
            if (staging / folder).is_dir():
                (dest / folder).mkdir(parents=True, exist_ok=True)
                for file in sorted((staging / folder).iterdir()):
                    os.replace(file, dest / folder / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def unpack(zip_path: Path, dest: Path, folder: str) -> list[Path]:
    """Copy the GTxx.png members of an official zip to ``dest/<folder>/GTxx.png`` (``folder`` "trimap":
    to trimap1/ or trimap2/ after the member's ``Trimap1``/``Trimap2`` folder). Tolerant of where the
    zip nests them (``input_training_lowres/GT01.png``, ``GT01.png``, ...); names are rebuilt here,
    so no member can write outside `dest`."""
    written = []
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                match = _PHOTO.match(parts[-1]) if parts else None
                if member.is_dir() or match is None or "__MACOSX" in parts:  # macOS resource forks
                    continue
                target = folder
                if folder == "trimap":
                    which = [m.group(1) for p in parts[:-1] if (m := _TRIMAP_FOLDER.match(p))]
                    if len(which) != 1:
                        raise ValueError(f"{zip_path}: cannot tell whether {member.filename} is a Trimap1 or a "
                                         "Trimap2 file (expected it in a Trimap1/ or Trimap2/ folder)")
                    target = f"trimap{which[0]}"
                out = dest / target / f"{match.group(1).upper()}.png"
                with archive.open(member) as src, atomic_file(out) as dst:
                    dst.write(src.read())
                written.append(out)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{zip_path} is not a readable zip file ({err}); delete it and download it again") from None
    if not written:
        raise ValueError(f"{zip_path} holds no GTxx.png images; expected e.g. input_training_lowres/GT01.png "
                         "(or trimap_training_lowres/Trimap1/GT01.png)")
    return written


def _check_complete(unpacked: Path, dest: Path) -> None:
    """Every photo unpacked in `unpacked` has its alpha matte and both trimaps (a truncated or foreign zip shows
    up here); errors name `dest`, where they were going."""
    found = {f: {p.stem for p in (unpacked / f).glob("GT*.png")} for f in FOLDERS}
    lacking = [f"{name} ({folder})" for name in sorted(found["image"]) for folder in FOLDERS[1:]
               if name not in found[folder]]
    if lacking:
        raise ValueError(f"{dest}: {len(lacking)} file(s) missing after unpacking: {', '.join(lacking[:5])}")


# ----------------------------------------------------------------------------------- command line
def add_data_args(parser) -> None:
    """Options of `python -m indexnet data`."""
    parser.add_argument("name", choices=("alphamatting",),
                        help="alphamatting: the alphamatting.com low-res training set (GT01-GT27, two trimaps each)")
    parser.add_argument("--out", required=True, help="folder for image/, alpha/, trimap1/, trimap2/ (and zips/)")
    parser.add_argument("--zips", default=None,
                        help="folder with the three official zips downloaded by hand (then nothing is downloaded)")
    parser.add_argument("--no-download", action="store_true", help="only use zips already there; never download")
    parser.add_argument("--base-url", default=BASE_URL, help="where the zips are (default: %(default)s)")
    parser.set_defaults(func=run_data_cli)


def run_data_cli(args) -> int:
    dest = download_alphamatting(args.out, zip_dir=args.zips, download=not args.no_download, base_url=args.base_url)
    count = len(list((dest / "image").glob("GT*.png")))
    print(f"{dest}: {count} photos with alpha and two trimaps each (image/, alpha/, trimap1/, trimap2/); "
          f"read them with indexnet.evaluate.AlphamattingDataset({str(dest)!r}, names)")
    return 0
