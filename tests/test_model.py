"""The network itself: size, variants, and the golden raw outputs of both reference implementations."""
import numpy as np
import pytest
import torch

from indexnet.model import IndexBlock, IndexNetConfig, IndexNetMatting, mmagic_key_to_ours


def test_published_size():
    model = IndexNetMatting()
    assert sum(p.numel() for p in model.parameters()) == 5_953_515
    assert len(model.state_dict()) == 549


@pytest.mark.parametrize("mode", ["m2o", "o2o", "holistic"])
@pytest.mark.parametrize("nonlinear,context", [(True, True), (False, False)])
def test_variants_run(mode, nonlinear, context):
    model = IndexNetMatting(IndexNetConfig(index_mode=mode, nonlinear=nonlinear, context=context)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 4, 64, 96)).shape == (1, 1, 64, 96)


def test_no_aspp_variant():
    model = IndexNetMatting(IndexNetConfig(aspp=False)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 4, 32, 32)).shape == (1, 1, 32, 32)


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="index_mode"):
        IndexNetConfig(index_mode="bogus")
    with pytest.raises(ValueError, match="multiples of 32"):
        IndexNetMatting().eval()(torch.randn(1, 4, 50, 64))


def test_index_block_encoder_index_sums_to_one_per_cell():
    block = IndexBlock(8).eval()
    with torch.no_grad():
        idx_en, idx_de = block(torch.randn(2, 8, 16, 16))
    assert idx_en.shape == idx_de.shape == (2, 8, 16, 16)
    cell_sums = torch.nn.functional.avg_pool2d(idx_en, 2) * 4
    torch.testing.assert_close(cell_sums, torch.ones_like(cell_sums))
    assert ((idx_de > 0) & (idx_de < 1)).all()


def test_authors_intermediates(golden_dir, authors_model):
    """Stage-by-stage outputs of the 64x64 debugging case: localises a wiring error to one stage."""
    g = np.load(golden_dir / "authors_intermediates_64.npz")
    outputs = {}
    hooks = [getattr(authors_model, name).register_forward_hook(
        lambda m, i, o, name=name: outputs.__setitem__(name, o))
        for name in ["layer0", "layer3", "layer7", "dconv_pp", "decoder_layer6", "decoder_layer0", "pred"]]
    with torch.no_grad():
        authors_model(torch.from_numpy(g["input"]))
    for h in hooks:
        h.remove()
    for name, value in outputs.items():
        np.testing.assert_allclose(value.numpy(), g[f"{name}.out"], atol=1e-4, err_msg=name)
    with torch.no_grad():
        idx_en, idx_de = authors_model.index2(torch.from_numpy(g["layer2.out"]))
    np.testing.assert_allclose(idx_en.numpy(), g["index2.idx_en"], atol=1e-5)
    np.testing.assert_allclose(idx_de.numpy(), g["index2.idx_de"], atol=1e-5)


@pytest.mark.parametrize("case", ["case320", "case333x517"])
def test_authors_raw_output(golden_dir, authors_model, case):
    g = np.load(golden_dir / "authors_parity.npz")
    with torch.no_grad():
        out = authors_model(torch.from_numpy(g[f"{case}_input"])).numpy()
    np.testing.assert_allclose(out, g[f"{case}_raw_output"], atol=1e-4)


@pytest.mark.parametrize("case", ["case320", "case333x517", "case333x517pad"])
def test_mmagic_backbone_output(golden_dir, mmagic_model, case):
    g = np.load(golden_dir / "mmagic_parity_wellcond.npz")
    with torch.no_grad():
        out = mmagic_model(torch.from_numpy(g[f"{case}_backbone_input"])).numpy()
    np.testing.assert_allclose(out, g[f"{case}_backbone_out"], atol=2e-4)


def test_mmagic_key_table_covers_every_key(golden_dir):
    ours = IndexNetMatting().state_dict()
    mapped = []
    for line in (golden_dir / "mmagic_state_dict_keys.txt").read_text().splitlines():
        key, shape = line.split()[:2]
        target = mmagic_key_to_ours(key)
        assert target in ours, f"{key} -> {target}"
        expected = tuple(int(s) for s in shape.strip("()[]").split(",") if s)
        assert tuple(ours[target].shape) == expected, key
        mapped.append(target)
    assert sorted(mapped) == sorted(ours)  # a bijection: 549 keys each way


def test_mmagic_key_unknown():
    assert mmagic_key_to_ours("backbone.encoder.nonsense.weight") is None
