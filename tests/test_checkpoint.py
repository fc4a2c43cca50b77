"""load_model / save_checkpoint: every layout, strictness, clear errors, atomic writes."""
import numpy as np
import pytest
import torch

from indexnet import IndexNetConfig, IndexNetMatting, load_model, save_checkpoint
from indexnet.checkpoint import MODELS, CheckpointError, _hash_prefix, atomic_save, detect_format, resolve_source


def _outputs_equal(a, b):
    x = torch.randn(1, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_authors_and_mmagic_layouts_load_strictly(golden_dir):
    authors = load_model(golden_dir / "authors_random_checkpoint.pth.tar")
    mmagic = load_model(golden_dir / "mmagic_random_checkpoint_wellcond.pth")
    assert not authors.training and not mmagic.training
    assert authors.size_mode == "resize" and mmagic.size_mode == "interp"


def test_authors_file_without_num_batches_tracked(golden_dir, tmp_path):
    """The authors' real release has no num_batches_tracked buffers: tolerated."""
    obj = torch.load(golden_dir / "authors_random_checkpoint.pth.tar", weights_only=True)
    obj["state_dict"] = {k: v for k, v in obj["state_dict"].items() if "num_batches_tracked" not in k}
    obj["epoch"], obj["measure"] = 30, "grad"
    torch.save(obj, tmp_path / "real_like.pth.tar", _use_new_zipfile_serialization=False)
    a = load_model(tmp_path / "real_like.pth.tar")
    b = load_model(golden_dir / "authors_random_checkpoint.pth.tar")
    assert _outputs_equal(a, b)


def test_round_trip_our_format(tmp_path):
    model = IndexNetMatting(IndexNetConfig(index_mode="o2o")).eval()
    save_checkpoint(tmp_path / "ours.pth", model, meta={"note": "test"})
    loaded = load_model(tmp_path / "ours.pth")
    assert loaded.config.index_mode == "o2o" and loaded.meta == {"note": "test"}
    assert _outputs_equal(model, loaded)
    assert loaded.size_mode == "pad"
    assert not list(tmp_path.glob("*.tmp"))


def test_half_storage_round_trip(tmp_path):
    model = IndexNetMatting().eval()
    with torch.no_grad():  # statistics as a trained decoder has them: beyond float16's range (65504)
        model.decoder_layer6.dconv[1].running_var.fill_(2e5)
        model.pred[0][0].weight[0, 0, 0, 0] = 1e6  # a parameter that does not fit float16 either
    save_checkpoint(tmp_path / "half.pth", model, half=True)
    stored = torch.load(tmp_path / "half.pth", weights_only=True)["state_dict"]
    assert stored["layer0.0.weight"].dtype == torch.float16
    assert stored["decoder_layer6.dconv.1.running_var"].dtype == torch.float32
    assert stored["pred.0.0.weight"].dtype == torch.float32
    loaded = load_model(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    buffers = {name for name, _ in model.named_buffers()}
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        if k in buffers or k == "pred.0.0.weight":
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
        elif a.is_floating_point():
            torch.testing.assert_close(a.half().float(), b, msg=k)


def test_non_finite_weights_are_refused(tmp_path):
    sd = IndexNetMatting().state_dict()
    sd["decoder_layer6.dconv.1.running_var"][0] = float("inf")
    torch.save({"state_dict": sd}, tmp_path / "inf.pth")
    with pytest.raises(CheckpointError, match="NaN or infinite.*decoder_layer6.dconv.1.running_var"):
        load_model(tmp_path / "inf.pth")


def test_missing_key_error_names_format_and_key(golden_dir, tmp_path):
    obj = torch.load(golden_dir / "mmagic_random_checkpoint_wellcond.pth", weights_only=True)
    del obj["state_dict"]["backbone.decoder.pred.1.weight"]
    torch.save(obj, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"mmagic layout.*1 missing.*pred\.1\.weight"):
        load_model(tmp_path / "broken.pth")


def test_misshaped_key_error(golden_dir, tmp_path):
    obj = torch.load(golden_dir / "authors_random_checkpoint.pth.tar", weights_only=True)
    obj["state_dict"]["module.layer0.0.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(obj, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"authors layout.*mis-shaped.*layer0\.0\.weight"):
        load_model(tmp_path / "bad.pth")


def test_unexpected_key_error(tmp_path):
    sd = IndexNetMatting().state_dict()
    sd["layer0.extra"] = torch.zeros(1)
    torch.save({"state_dict": sd}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="unexpected.*layer0.extra"):
        load_model(tmp_path / "extra.pth")


def test_bad_architecture_config_in_our_format(tmp_path):
    save_checkpoint(tmp_path / "ours.pth", IndexNetMatting())
    obj = torch.load(tmp_path / "ours.pth", weights_only=True)
    for config, message in (({**obj["config"], "wings": 2}, r"unknown architecture options \['wings'\]"),
                            (None, "without its architecture config")):
        torch.save({**obj, "config": config}, tmp_path / "bad.pth")
        with pytest.raises(CheckpointError, match=message):
            load_model(tmp_path / "bad.pth")


def test_garbage_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_model(tmp_path / "junk.pth")
    torch.save({"state_dict": {"foo.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="unrecognised state-dict layout"):
        load_model(tmp_path / "other.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="holds a list"):
        load_model(tmp_path / "list.pth")


def test_state_dict_with_non_string_keys_or_non_tensor_values(tmp_path):
    """Loadable pickles that are not a state dict of named tensors: a CheckpointError, not an AttributeError."""
    sd = IndexNetMatting().state_dict()
    torch.save({"state_dict": {7: torch.zeros(1), **sd}}, tmp_path / "int_key.pth")
    with pytest.raises(CheckpointError, match="keys must be parameter names.*first 7"):
        load_model(tmp_path / "int_key.pth")
    torch.save({"state_dict": {**sd, "layer0.0.weight": [1, 2]}}, tmp_path / "list_value.pth")
    with pytest.raises(CheckpointError, match=r"values must be tensors.*layer0\.0\.weight \(list\)"):
        load_model(tmp_path / "list_value.pth")


def test_pickled_code_is_refused(tmp_path):
    """weights_only=True: a checkpoint that would run code on load is rejected."""
    torch.save({"state_dict": IndexNetMatting().state_dict(), "payload": np.dtype}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match=r"evil.pth was refused: it holds a Python object \(numpy.dtype\)") as err:
        load_model(tmp_path / "evil.pth")
    # PyTorch's own message advises weights_only=False (running the file's code), with ANSI codes: not passed on
    assert "weights_only" not in str(err.value) and "\x1b" not in str(err.value)


def test_unknown_source_lists_registered_names():
    with pytest.raises(FileNotFoundError, match="mmagic-comp1k"):
        load_model("no-such-model")


def test_urls_are_not_downloaded_when_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="downloading is disabled"):
        resolve_source("mmagic-comp1k", download=False)
    assert _hash_prefix(MODELS["mmagic-comp1k"].source.rsplit("/", 1)[1]) == "26dd258d"
    assert _hash_prefix("indexnet_matting.pth.tar") is None


def test_cached_url_is_used_without_network(tmp_path, monkeypatch, golden_dir):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints" / MODELS["mmagic-comp1k"].source.rsplit("/", 1)[1]
    cache.parent.mkdir(parents=True)
    cache.write_bytes((golden_dir / "mmagic_random_checkpoint_wellcond.pth").read_bytes())
    model = load_model("mmagic-comp1k", download=False)
    assert model.size_mode == "interp"


def test_detect_format():
    assert detect_format({"module.layer0.0.weight": 0}) == "authors"
    assert detect_format({"backbone.encoder.layers.0.conv.weight": 0}) == "mmagic"
    assert detect_format({"layer0.0.weight": 0}) == "ours"


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "state.pth"
    atomic_save({"a": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"a": Unpicklable()}, path)
    assert torch.load(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pth"]


@pytest.fixture
def local_server(tmp_path, golden_dir):
    """An HTTP server on localhost serving the golden MMagic checkpoint under three names."""
    import functools
    import hashlib
    import http.server
    import threading
    data = (golden_dir / "mmagic_random_checkpoint_wellcond.pth").read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    site = tmp_path / "site"
    site.mkdir()
    (site / f"weights-{prefix}.pth").write_bytes(data)
    (site / "weights-00000000.pth").write_bytes(data)  # a name whose hash prefix does not match
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", prefix
    server.shutdown()


def test_url_downloads_once_into_the_cache_and_checks_the_hash(tmp_path, monkeypatch, local_server):
    url, prefix = local_server
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = load_model(f"{url}/weights-{prefix}.pth")
    cache = tmp_path / "torch" / "hub" / "checkpoints" / f"weights-{prefix}.pth"
    assert cache.is_file() and model.size_mode == "interp"
    assert resolve_source(f"{url}/weights-{prefix}.pth", download=False) == cache
    with pytest.raises(ConnectionError, match="could not download"):
        resolve_source(f"{url}/weights-00000000.pth", progress=False)
    assert sorted(p.name for p in cache.parent.iterdir()) == [cache.name]  # a bad download leaves nothing behind


def test_download_from_a_silent_server_times_out(tmp_path, monkeypatch):
    import socket
    import time
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection, never answers
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionError, match="could not download"):
            resolve_source(f"http://127.0.0.1:{silent.getsockname()[1]}/w.pth", progress=False, timeout=1)
        assert time.monotonic() - start < 30
    finally:
        silent.close()
