"""Loading and saving weights: the authors' `.pth.tar`, MMagic's `.pth`, and our own format.

`load_model(source)` accepts a file path, a URL, or a registered name (`MODELS`). The layout is
recognised from the state-dict keys; loading is strict (every key present, every shape equal),
and always goes through `torch.load(..., weights_only=True)`: a checkpoint is untrusted input.
URLs are downloaded once into torch.hub's cache (`$TORCH_HOME/hub/checkpoints`), only when asked.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from .model import IndexNetConfig, IndexNetMatting, mmagic_key_to_ours

FORMAT_NAME = "indexnet-matting"  # the `format` field of checkpoints written by this project
PACKAGE_DIR = Path(__file__).resolve().parent  # registered local files ship inside it (package data)


@dataclass(frozen=True)
class RegisteredModel:
    source: str  # URL, or path relative to the package folder (installed with it)
    size_mode: str  # the test-time path the weights were evaluated with (SPEC §3)
    description: str
    licence: str


MODELS: dict[str, RegisteredModel] = {
    "mmagic-comp1k": RegisteredModel(
        "https://download.openmmlab.com/mmediting/mattors/indexnet/"
        "indexnet_mobv2_1x16_78k_comp1k_SAD-45.6_20200618_173817-26dd258d.pth",
        "interp", "MMagic, Composition-1k, SAD 45.6 (IndexNet pipeline)", "Apache-2.0 (OpenMMLab)"),
    "mmagic-dimaug": RegisteredModel(
        "https://download.openmmlab.com/mmediting/mattors/indexnet/"
        "indexnet_dimaug_mobv2_1x16_78k_comp1k_SAD-50.1_20200626_231857-af359436.pth",
        "pad", "MMagic, Composition-1k, SAD 50.1 (DIM pipeline)", "Apache-2.0 (OpenMMLab)"),
    "authors": RegisteredModel(
        "https://github.com/poppinace/indexnet_matting/raw/master/pretrained/indexnet_matting.pth.tar",
        "resize", "Lu et al., ICCV 2019 release, SAD 45.8", "non-commercial research use only"),
    "synthetic": RegisteredModel(
        "weights/indexnet_synthetic.pth", "pad",
        "this project: trained on the offline synthetic matting set, then fine-tuned for real photographs "
        "(see checkpoints/README.md)", "MIT"),
}
DEFAULT_MODEL = "synthetic"


class CheckpointError(ValueError):
    """A file that is not a loadable IndexNet checkpoint."""


def download_file(url: str, dest: Path, hash_prefix: str | None = None, progress: bool = True,
                  timeout: float = 60.0) -> None:
    """Stream `url` into `dest` atomically (temporary file, then rename), checking the sha256 prefix if given.

    Every network wait (connecting, each read) is bounded by `timeout` seconds, so a server that stops
    answering raises instead of hanging an app request or a notebook cell forever."""
    import urllib.request
    from tqdm import tqdm
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        sha = hashlib.sha256()
        request = urllib.request.Request(url, headers={"User-Agent": "indexnet-matting"})
        with urllib.request.urlopen(request, timeout=timeout) as response, os.fdopen(fd, "wb") as f, \
                tqdm(total=int(response.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                     desc=dest.name, disable=not progress) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                sha.update(chunk)
                bar.update(len(chunk))
        if hash_prefix and not sha.hexdigest().startswith(hash_prefix):
            raise ValueError(f"sha256 {sha.hexdigest()[:8]}... does not start with {hash_prefix} (from the file name): "
                             "a damaged or substituted file")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_source(source: str | os.PathLike, download: bool = True, progress: bool = True,
                   timeout: float = 60.0) -> Path:
    """A registered name, URL or path -> a local file (downloading a URL into the cache once).

    `timeout` (seconds) bounds each network wait (connecting, every read), not the whole download."""
    source = str(source)
    if source in MODELS:
        source = MODELS[source].source
        if not urlparse(source).scheme:
            source = str(PACKAGE_DIR / source)
    if urlparse(source).scheme in ("http", "https"):
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(source).path).name
        if cache.exists():
            return cache
        if not download:
            raise FileNotFoundError(f"{source} is not in the cache ({cache}) and downloading is disabled")
        cache.parent.mkdir(parents=True, exist_ok=True)
        try:
            # OpenMMLab puts the sha256 prefix in its file names (`...-26dd258d.pth`), as torch.hub does.
            download_file(source, cache, hash_prefix=_hash_prefix(cache.name), progress=progress, timeout=timeout)
        except Exception as err:  # offline, DNS failure, HTTP error, hash mismatch
            raise ConnectionError(f"could not download {source}: {err}. Without internet access, pass a local "
                                  f"checkpoint path or use the shipped model {DEFAULT_MODEL!r}.") from err
        return cache
    path = Path(source).expanduser()
    if not path.is_file():
        names = ", ".join(MODELS)
        raise FileNotFoundError(f"checkpoint {source!r} is neither a file, a URL, nor a registered name ({names})")
    return path


def _hash_prefix(filename: str) -> str | None:
    """The sha256 prefix in torch.hub-style names (`name-<hex>.pth`), or None."""
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z]+$", filename)
    return m.group(1) if m else None


def detect_format(state_dict: dict) -> str:
    """'authors', 'mmagic' or 'ours', from the key names alone."""
    keys = list(state_dict)
    if any(k.startswith("backbone.encoder.") for k in keys):
        return "mmagic"
    if any(k.startswith("module.layer0.") for k in keys):
        return "authors"
    if any(k.startswith("layer0.") for k in keys):
        return "ours"
    raise CheckpointError(f"unrecognised state-dict layout: expected keys like 'module.layer0.0.weight' (authors), "
                          f"'backbone.encoder.layers.0.conv.weight' (MMagic) or 'layer0.0.weight' (ours); "
                          f"first keys are {keys[:3]}")


def convert_state_dict(state_dict: dict, fmt: str) -> dict:
    """Rename the keys of an authors' or MMagic state dict to ours (values untouched)."""
    if fmt == "authors":
        return {k.removeprefix("module."): v for k, v in state_dict.items()}
    if fmt == "mmagic":
        out = {}
        unknown = []
        for k, v in state_dict.items():
            if k.startswith("data_preprocessor."):  # mean/std buffers of some MMagic versions; not weights
                continue
            ours = mmagic_key_to_ours(k)
            if ours is None:
                unknown.append(k)
            else:
                out[ours] = v
        if unknown:
            raise CheckpointError(f"MMagic checkpoint has {len(unknown)} keys with no counterpart: {unknown[:5]}")
        return out
    return dict(state_dict)


def load_state_dict_strict(model: IndexNetMatting, state_dict: dict, fmt: str) -> None:
    """Load with every key and shape checked; the error names the layout and the first offenders."""
    expected = model.state_dict()
    state_dict = {k: v for k, v in state_dict.items()}
    for k, v in expected.items():  # the authors' real file has no num_batches_tracked
        if k.endswith("num_batches_tracked") and k not in state_dict:
            state_dict[k] = torch.zeros_like(v)
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or misshaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                parts.append(f"{len(items)} {label} (first: {', '.join(items[:3])})")
        raise CheckpointError(f"checkpoint looks like the {fmt} layout but does not fit the model: " + "; ".join(parts))
    nonfinite = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:  # a diverged run, or statistics that overflowed a float16 export: outputs would be garbage
        raise CheckpointError(f"checkpoint ({fmt} layout) holds NaN or infinite values in {len(nonfinite)} "
                              f"tensor(s) (first: {', '.join(nonfinite[:3])})")
    state_dict = {k: v.to(expected[k].dtype) for k, v in state_dict.items()}  # fp16 storage -> fp32
    model.load_state_dict(state_dict, strict=True)


def safe_load(path: str | os.PathLike, allowed: tuple = ()) -> object:
    """`torch.load(weights_only=True)` (tensors and plain values only, plus the `allowed` globals): a file
    that holds anything else, or is not a complete PyTorch file, raises a CheckpointError in our words.
    PyTorch's own message is not passed on: it suggests `weights_only=False`, which runs whatever code
    the file holds."""
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # noqa: BLE001 -- pickle, zip and EOF errors, each its own type
        found = re.search(r"Unsupported global: GLOBAL (\S+)|but got <class '([^']+)'>", str(err))
        if found:
            name = found.group(1) or found.group(2)
            raise CheckpointError(f"{path} was refused: it holds a Python object ({name}), not only tensors and "
                                  "plain values, and loading it could run code") from None
        reason = "empty" if isinstance(err, EOFError) else "truncated, damaged or not a PyTorch file"
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({reason})") from None


def read_checkpoint(path: str | os.PathLike) -> dict:
    obj = safe_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, expected a dict with a state dict")
    return obj


def _saved_config(obj: dict, path) -> IndexNetConfig:
    """The architecture stored in one of our own checkpoints, or a CheckpointError naming what is wrong."""
    import dataclasses
    saved = obj.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} is an {FORMAT_NAME} checkpoint without its architecture config")
    known = {f.name for f in dataclasses.fields(IndexNetConfig)}
    if unknown := sorted(set(saved) - known):
        raise CheckpointError(f"{path}: unknown architecture options {unknown} (known: {sorted(known)}); "
                              "written by a newer version of this project?")
    try:
        return IndexNetConfig(**saved)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid architecture config {saved}: {err}") from err


def available_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device that this machine has; otherwise a ValueError saying what was wrong
    (instead of PyTorch's messages about its build, raised later at the first tensor moved there)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a device name; expected 'cpu', 'cuda', 'cuda:<index>' "
                         "or 'mps'") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {str(parsed)!r}: no CUDA GPU is available here (none present, or a CPU-only "
                             "PyTorch build); use 'cpu'")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device {str(parsed)!r}: this machine has {count} CUDA GPU(s), indices 0-{count - 1}")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(parsed)!r}: Apple's MPS backend is not available here; use 'cpu'")
    return parsed


def _check_names_and_tensors(state_dict: dict, path) -> None:
    """A state dict maps parameter names (str) to tensors; anything else is refused here, before layout
    detection and shape checks would trip over it with an AttributeError."""
    not_names = [k for k in state_dict if not isinstance(k, str)]
    if not_names:
        raise CheckpointError(f"{path}: state-dict keys must be parameter names (str); found {len(not_names)} "
                              f"other key(s), first {', '.join(repr(k) for k in not_names[:3])}")
    not_tensors = [f"{k} ({type(v).__name__})" for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: state-dict values must be tensors; {len(not_tensors)} are not, "
                              f"first {', '.join(not_tensors[:3])}")


def load_model(source: str | os.PathLike = DEFAULT_MODEL, device: str | torch.device = "cpu",
               download: bool = True, timeout: float = 60.0) -> IndexNetMatting:
    """An `IndexNetMatting` in eval mode from a path, URL or registered name (see `MODELS`).

    The returned model carries `model.source`, `model.size_mode` (the test-time path its weights
    were evaluated with; `predict` uses it when no `size_mode` is given) and `model.test_scale`
    (the image scale `predict` runs it at when no `scale` is given: 1 unless the file's meta says).
    """
    device = available_device(device)  # before any download: a typo in the device should fail at once
    path = resolve_source(source, download=download, timeout=timeout)
    obj = read_checkpoint(path)
    state_dict = obj.get("state_dict", obj)
    if not isinstance(state_dict, dict) or not state_dict:
        raise CheckpointError(f"{path} has no state dict")
    _check_names_and_tensors(state_dict, path)
    fmt = detect_format(state_dict)
    config = _saved_config(obj, path) if obj.get("format") == FORMAT_NAME else IndexNetConfig()
    model = IndexNetMatting(config)
    load_state_dict_strict(model, convert_state_dict(state_dict, fmt), fmt)
    model.source = str(source)
    registered = MODELS.get(str(source))
    model.size_mode = registered.size_mode if registered else {"authors": "resize", "mmagic": "interp"}.get(fmt, "pad")
    model.meta = obj.get("meta", {})
    # The test-time scale our trained weights were measured best at (`predict`'s default `scale`).
    model.test_scale = float(model.meta.get("test_scale", 1.0)) if isinstance(model.meta, dict) else 1.0
    return model.to(device).eval()


def average_models(sources, weights=None) -> IndexNetMatting:
    """The average of several checkpoints of one architecture (weights and BatchNorm statistics): uniform, or
    weighted by `weights` (one non-negative number per source, normalised to sum to 1).

    Averaging the last few snapshots of a run is a way to choose weights without picking one by a validation
    score (issue 16), and a flatter point than any single one (Izmailov et al., "Averaging Weights Leads to
    Wider Optima", 2018). A weighted average of a fine-tuned model and the one it started from is WiSE-FT
    (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022): it keeps much of what the start
    knew while gaining some of what the fine-tuning taught. The result carries the first source's metadata
    (its `test_scale` included)."""
    sources = list(sources)
    if not sources:
        raise ValueError("average_models needs at least one checkpoint")
    if weights is None:
        weights = [1.0] * len(sources)
    weights = [float(w) for w in weights]
    if len(weights) != len(sources) or any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"average_models needs one non-negative weight per checkpoint, not all 0; got {weights} "
                         f"for {len(sources)} checkpoints")
    share = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    models = [load_model(source) for source in sources]
    first = models[0]
    for source, model in zip(sources[1:], models[1:]):
        if model.config != first.config:
            raise CheckpointError(f"cannot average {sources[0]} and {source}: their architectures differ "
                                  f"({first.config} vs {model.config})")
    states = [model.state_dict() for model in models]
    averaged = {k: torch.einsum("n,n...->...", share, torch.stack([s[k].double() for s in states])).to(v.dtype)
                if v.is_floating_point() else v for k, v in states[0].items()}
    first.load_state_dict(averaged)
    first.source = " + ".join(str(s) for s in sources)
    return first


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside `path`; on success it is synced and renamed over `path`, on any
    failure removed: a crash or kill never leaves half a file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; our outputs are ordinary shareable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save, atomically (see `atomic_file`)."""
    with atomic_file(path) as f:
        torch.save(obj, f)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (see `atomic_file`)."""
    with atomic_file(path, "w") as f:
        f.write(text)


def save_checkpoint(path: str | os.PathLike, model: IndexNetMatting, meta: dict | None = None,
                    half: bool = False) -> None:
    """Write our own format (weights + config + metadata), atomically.

    `half=True` stores the learned parameters as float16 (half the file). BatchNorm statistics stay float32:
    a decoder's running variance easily exceeds float16's 65504 and would turn into inf, which silences
    that layer at inference (this happened to an early export of the shipped model). A parameter that
    does not fit float16 stays float32 as well."""
    buffers = {name for name, _ in model.named_buffers()}

    def stored(name: str, v: torch.Tensor) -> torch.Tensor:
        if half and v.is_floating_point() and name not in buffers and torch.isfinite(v.half()).all():
            return v.half()
        return v
    state_dict = {k: stored(k, v.detach().cpu()) for k, v in model.state_dict().items()}
    atomic_save({"format": FORMAT_NAME, "config": model.config.to_dict(), "meta": dict(meta or {}),
                 "state_dict": state_dict}, path)
