"""indexnet.inference_model: the inference-optimised network computes the eager model's function (raw outputs within
1e-4), never touches the model it was made from, and `predict`'s cache follows weight changes."""
import copy

import numpy as np
import pytest
import torch

from indexnet import IndexNetConfig, IndexNetMatting, predict
from indexnet.inference_model import FastIndexNet, fast_model, forget, optimize_for_inference

TOL = 1e-4  # max abs difference of raw outputs (the golden parity tolerance)


def _random_model(config: IndexNetConfig | None = None, seed: int = 0) -> IndexNetMatting:
    """He-init convs plus non-trivial BN statistics (so that BN folding is really exercised), eval mode."""
    torch.manual_seed(seed)
    model = IndexNetMatting(config)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return model.eval()


def _max_diff(model, fast, shape, seed=0):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model(x)
    got = fast(x)
    assert got.shape == expected.shape
    return (got - expected).abs().max().item()


@pytest.mark.parametrize("shape", [(1, 4, 32, 32), (1, 4, 64, 96), (1, 4, 160, 96), (2, 4, 96, 64), (1, 4, 256, 320)])
def test_golden_weights_match_eager(authors_model, shape):
    fast = optimize_for_inference(authors_model)
    assert _max_diff(authors_model, fast, shape) < TOL


def test_shipped_weights_match_eager():
    """The released weights (trained, fp16-stored) through the optimised path: the numbers users get."""
    from indexnet import load_model
    model = load_model("synthetic")
    assert _max_diff(model, optimize_for_inference(model), (1, 4, 96, 128), seed=4) < TOL


@pytest.mark.parametrize("stripe_elements", [1, 1 << 14])
def test_stripes_are_exact(authors_model, stripe_elements):
    """Tiny working-set budgets: every stage runs in many 1-2 row stripes, with halos at every border."""
    fast = optimize_for_inference(authors_model, stripe_elements=stripe_elements)
    assert _max_diff(authors_model, fast, (1, 4, 96, 64), seed=1) < TOL


@pytest.mark.parametrize("config", [
    dict(index_mode="o2o"), dict(index_mode="holistic"), dict(index_mode="holistic", nonlinear=False),
    dict(nonlinear=False, context=False), dict(aspp=False), dict(decoder_kernel=3), dict(decoder_kernel=7),
])
def test_variants_match_eager(config):
    model = _random_model(IndexNetConfig(**config))
    for budget in (4000, 1 << 22):  # stripes of a few rows, and whole stages
        assert _max_diff(model, optimize_for_inference(model, stripe_elements=budget), (1, 4, 64, 96)) < TOL


def test_original_model_untouched():
    model = _random_model().train()
    before = copy.deepcopy(model.state_dict())
    grads = [p.requires_grad for p in model.parameters()]
    fast = optimize_for_inference(model)
    after = model.state_dict()
    assert list(before) == list(after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and grads == [p.requires_grad for p in model.parameters()]
    assert not any(isinstance(m, FastIndexNet) for m in model.modules())
    # A training-mode model is optimised with its eval-mode semantics (running statistics).
    assert _max_diff(model.eval(), fast, (1, 4, 64, 64)) < TOL


def test_inference_only():
    fast = optimize_for_inference(_random_model())
    with pytest.raises(RuntimeError, match="inference-only"):
        fast.train()
    with pytest.raises(ValueError, match="multiples of 32"):
        fast(torch.randn(1, 4, 50, 64))
    assert fast(torch.randn(1, 4, 32, 32, requires_grad=True)).requires_grad is False


def test_fast_model_cache_follows_weights():
    model = _random_model()
    fast = fast_model(model)
    assert isinstance(fast, FastIndexNet) and fast_model(model) is fast  # cached
    assert "fast" not in " ".join(model.state_dict())  # nothing registered on the model

    # An optimizer step changes the weights in place: the next call rebuilds.
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    assert fast_model(model) is model  # training mode: the model itself (batch-statistics BN)
    # Also updates the BN running statistics. A batch big enough for sane statistics at the 1/32-scale
    # layers: from 2 images of 32 px they can collapse towards 0, and BN folding then amplifies
    # rounding differences past any fixed tolerance (seen on AVX-512: 0.014 on outputs of magnitude 13).
    model(torch.randn(8, 4, 64, 64, generator=torch.Generator().manual_seed(2))).mean().backward()
    opt.step()
    model.eval()
    rebuilt = fast_model(model)
    assert rebuilt is not fast
    assert _max_diff(model, rebuilt, (1, 4, 64, 64)) < TOL

    # load_state_dict and replacing a parameter are seen too.
    model.load_state_dict(_random_model(seed=1).state_dict())
    again = fast_model(model)
    assert again is not rebuilt and _max_diff(model, again, (1, 4, 64, 64)) < TOL
    model.pred[1].weight = torch.nn.Parameter(model.pred[1].weight.detach() * 2)
    assert fast_model(model) is not again
    assert _max_diff(model, fast_model(model), (1, 4, 64, 64)) < TOL

    current = fast_model(model)
    forget(model)  # for in-place edits through .data, which PyTorch does not version
    assert fast_model(model) is not current


def test_fast_model_passes_other_modules_through():
    model = _random_model()
    assert fast_model(model.double()) is model  # not float32: runs as given
    identity = torch.nn.Identity()
    assert fast_model(identity) is identity


def test_predict_uses_fast_path_with_eager_results(authors_model):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (100, 150, 3), dtype=np.uint8)
    trimap = np.full((100, 150), 128, np.uint8)
    trimap[:20], trimap[-20:] = 0, 255
    _, raw = predict(authors_model, image, trimap, size_mode="pad", return_raw=True)
    assert isinstance(fast_model(authors_model), FastIndexNet)
    from indexnet.inference import network_input
    x = np.pad(network_input(image, trimap), ((0, 28), (0, 10), (0, 0)), mode="reflect")
    with torch.no_grad():
        eager = authors_model(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0, 0].numpy()
    assert np.abs(raw - eager).max() < TOL
