"""Image files in and out: the one reader and the one writer that the library, the CLI, evaluation,
training data and the app share.

Reading: any file OpenCV or Pillow decodes (PNG, JPEG, WebP, TIFF, BMP, GIF; 8- or 16-bit, grey,
palette, RGB(A)), shown upright as photo viewers show it (EXIF orientation), from any path (the bytes
are read by Python, so non-ASCII paths work on Windows too). A file that is not a usable image raises
a ValueError that says so in words a user understands; a missing one, FileNotFoundError.

Writing: `write_png`, atomically (a crash never leaves half a file under the real name).
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Above this, Pillow refuses to open a file (a "decompression bomb": a small file that decodes to
# gigabytes); OpenCV's own limit is 2^30 pixels. One limit for both.
MAX_PIXELS = 178_956_970
# Uploads to the Gradio app (app.py, unless INDEXNET_MAX_PIXELS says otherwise) and photos given to the web page
# (web/indexnet.js, MAX_PIXELS) above this are refused, with read_array's message: one limit for both.
UPLOAD_MAX_PIXELS = 50_000_000


def images_by_stem(folder: Path) -> dict[str, Path]:
    """Image files of a folder by file name without suffix (the pairing rule for image / trimap folders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            if p.stem in found:  # h.png and h.tif: which one is meant cannot be guessed
                raise ValueError(f"{folder} holds both {found[p.stem].name} and {p.name}: files are paired by name "
                                 "without suffix, so keep one of them")
            found[p.stem] = p
    return found


# The longest side the network sees unless told otherwise (`predict`, `cutout`, the command line, the app): a
# 12000² photo at the shipped weights' scale of 1.5 would otherwise take ~20 GB and minutes.
DEFAULT_MAX_SIDE = 2048


def fit_within(shape: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(H, W) scaled down so that the longest side is at most `max_side` (aspect kept, at least 1 pixel);
    unchanged when it fits or `max_side` is None. The one size rule of every longest-side limit."""
    h, w = shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return h, w
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _open_pillow(source):
    """PIL.Image.open without Pillow's DecompressionBombWarning (printed beside our own messages): the readers
    here apply MAX_PIXELS themselves."""
    import PIL.Image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        return PIL.Image.open(source)


def _damaged_png(data: np.ndarray) -> bool:
    """Whether `data` is a PNG whose chunks fail their checksums or stop short. OpenCV's decoder would print
    libpng's complaints about it to stderr, beside our own message; Pillow checks it silently."""
    if data[:8].tobytes() != b"\x89PNG\r\n\x1a\n":
        return False
    try:
        with _open_pillow(io.BytesIO(data.tobytes())) as im:
            im.verify()
    except Exception:  # noqa: BLE001 -- Pillow raises SyntaxError, OSError, struct.error ... for damage
        return True
    return False


# ----------------------------------------------------------------------------------- orientation
_EXIF_TRANSPOSE = {  # EXIF orientation -> the numpy operation that shows the photo upright (as viewers do)
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1),
}


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to a decoded H x W (x C) array, so that it shows as a photo viewer shows it."""
    return np.ascontiguousarray(_EXIF_TRANSPOSE.get(orientation, lambda a: a)(array))


def _header(path: Path, what: str, max_pixels: int | None = None) -> tuple[tuple[int, int] | None, int]:
    """((width, height) or None when Pillow does not know the format, EXIF orientation) from the header alone.
    An image over Pillow's own bomb limit is refused here, with the caller's limit (`max_pixels`) in the message."""
    import PIL.Image
    try:
        with _open_pillow(path) as im:
            try:
                orientation = int(im.getexif().get(274, 1))
            except Exception:  # noqa: BLE001 -- a damaged EXIF block: show the pixels as stored
                orientation = 1
            return im.size, orientation
    except PIL.Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))  # Pillow: "Image size (N pixels) exceeds limit ..."
        size = f"{int(found[1]) / 1e6:.0f} megapixels" if found else f"over {MAX_PIXELS / 1e6:.0f} megapixels"
        raise ValueError(f"the {what} {path} is {size}; at most {(max_pixels or MAX_PIXELS) / 1e6:.0f} are "
                         "accepted: downscale it first") from None
    except Exception:  # noqa: BLE001 -- not a format Pillow knows (OpenCV may), or a damaged header
        return None, 1


# ----------------------------------------------------------------------------------- reading
def read_array(path: str | os.PathLike, what: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """An image file as stored -> upright H x W or H x W x C array, channels in RGB(A) order, its own dtype
    (uint8, uint16, float32). `what` names the file in errors; `max_pixels` refuses larger images before
    decoding them."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"the {what} {path} is a folder; expected an image file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    not_image = (f"the {what} {path} is not a readable image file (PNG, JPEG, WebP, TIFF or BMP "
                 "expected)")
    size, orientation = _header(path, what, max_pixels)
    if size is not None and max_pixels is not None and size[0] * size[1] > max_pixels:
        w, h = size
        raise ValueError(f"the {what} {path} is {w}×{h} = {w * h / 1e6:.0f} megapixels; at most "
                         f"{max_pixels / 1e6:.0f} are accepted: downscale it first")
    data = np.fromfile(str(path), dtype=np.uint8)
    intact = data.size and not _damaged_png(data)  # a damaged one goes to Pillow, which says so
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION) if intact else None
    if array is not None and (size is None or array.shape[:2] == size[::-1]):
        if array.ndim == 3:  # OpenCV decodes to BGR(A)
            array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return upright(array, orientation)
    if size is None:
        raise ValueError(not_image)
    # A format OpenCV lacks (GIF, ...), or a damaged file: Pillow decodes (and says if it is damaged).
    import PIL.Image
    try:
        with _open_pillow(path) as im:
            keep = im.mode in ("L", "RGB", "RGBA", "I;16")
            alpha = "A" in im.getbands() or "transparency" in im.info
            array = np.asarray(im if keep else im.convert("RGBA" if alpha else "RGB"))
    except Exception as err:  # noqa: BLE001 -- truncated or corrupt data
        raise ValueError(f"the {what} {path} is damaged (truncated or corrupt) and cannot be decoded: "
                         "re-export it") from err
    return upright(array, orientation)


def to_rgb_uint8_or_float(image) -> np.ndarray:
    """Any common image -> H x W x 3 RGB, uint8 or float32 in [0, 1].

    Accepts PIL images, H x W grayscale, H x W x 1/3/4 arrays (RGBA: the alpha channel is dropped),
    uint8, uint16 (16-bit PNG/TIFF: scaled by 1/65535, keeping the extra precision) and float arrays
    in [0, 1]. Raises ValueError for anything else.
    """
    if isinstance(image, (str, bytes, os.PathLike)):
        raise ValueError(f"got the file name {image!r}, expected the image itself: read it with "
                         "indexnet.read_image first")
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image without importing PIL
        image = np.asarray(image.convert("RGB") if image.mode not in ("RGB", "L", "I;16") else image)
    image = np.asarray(image)
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be H x W, H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA); got shape "
                         f"{image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., :3]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("image contains NaN or infinite values")
        lo, hi = float(image.min()), float(image.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float images must hold values in [0, 1]; got range [{lo:.3g}, {hi:.3g}] "
                             "(pass uint8 for 0..255 data)")
        return np.clip(image, 0, 1).astype(np.float32)
    raise ValueError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Image file -> upright RGB array (uint8, or float32 in [0, 1] for 16-bit files); alpha is dropped."""
    try:
        return to_rgb_uint8_or_float(read_array(path, "image", max_pixels))
    except ValueError as err:
        if str(err).startswith("the image"):
            raise
        raise ValueError(f"the image {path} cannot be used: {err}") from err


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Image file -> upright H x W x 3 uint8 RGB (16-bit files keep their high byte, as OpenCV's 8-bit
    decoding does): the training and evaluation data."""
    image = read_array(path, "image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return to_rgb_uint8_or_float(image)


def read_gray(path: str | os.PathLike, what: str = "alpha matte") -> np.ndarray:
    """Single-channel 8-bit file (or RGB / palette with equal channels) -> upright H x W uint8: alpha mattes
    and trimaps of datasets, read back exactly."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    size, orientation = _header(path, what)
    data = np.fromfile(str(path), dtype=np.uint8)
    intact = data.size and not _damaged_png(data)
    array = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION) if intact else None
    if array is None:
        raise ValueError(f"the {what} {path} is not a readable image file")
    return upright(array, orientation)


# ----------------------------------------------------------------------------------- writing
def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (links and hard links followed), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a).resolve() == Path(b).resolve()


def check_output(path: str | os.PathLike, inputs=(), folder: bool = False, flag: str = "--out") -> None:
    """Refuse, before any work, an output that would replace an input or cannot be written: `path` (a file,
    or with folder=True a folder for the outputs) must not be one of `inputs` (files or folders), must not lie
    under a file, and the folder it goes into must take new files. A ValueError names `flag` and the cause."""
    path = Path(path)
    for given in inputs:
        if same_path(path, given):
            kind = "folder" if Path(given).is_dir() else "file"
            raise ValueError(f"{flag} {path} is the input {kind} {given}: writing there would replace the input; "
                             "choose another output")
    target = path if folder else path.parent
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{flag} {path} lies under {existing}, which is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):  # the one sure test: permissions, read-only mounts, quotas
            pass
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot write in {existing} ({err.strerror or err})") from None


def to_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 as is; float in [0, 1] -> 0..255 rounded half to even (as MMagic); anything else refused."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the array holds NaN or infinite values")
        lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float arrays must hold values in [0, 1] (got [{lo:.3g}, {hi:.3g}]); pass uint8 for "
                             "0..255 data")
        return np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    raise ValueError(f"cannot write dtype {array.dtype}: pass uint8 (0..255) or float in [0, 1]")


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an 8-bit PNG (H x W grey, H x W x 3 RGB or H x W x 4 RGBA) atomically: temporary file, then rename.

    uint8 is written as is; float in [0, 1] (a matte from `predict`) is scaled to 0..255 first. Refuses
    other dtypes and a path that does not end in .png (its bytes would be PNG whatever the name says)."""
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: write_png writes PNG files; give the output a .png name")
    array = to_uint8(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or array.size == 0:
        raise ValueError(f"cannot write an array of shape {array.shape} as an image: expected H x W, H x W x 3 "
                         "or H x W x 4")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"could not encode an array of shape {array.shape} as PNG")
    from .checkpoint import atomic_file  # imported here: reading images needs no torch
    with atomic_file(path) as f:
        f.write(buf.tobytes())
