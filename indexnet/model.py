"""IndexNet Matting: MobileNetV2 encoder + learned index blocks + indexed decoder.

Lu, Dai, Shen, Xu, "Indices Matter: Learning to Index for Deep Image Matting", ICCV 2019.
The default configuration is the paper's best model, "M2O DINs" (depthwise, many-to-one,
nonlinear index blocks with context) with ASPP: 5,953,515 parameters.

The module tree mirrors the authors' release (``layer0`` ... ``pred``), so their checkpoint loads
by dropping the ``module.`` prefix; MMagic's names are mapped onto it by the table at the bottom
of this file (``MMAGIC_TO_OURS``). Nothing here reads files: see ``checkpoint.py`` for that.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# RGB normalisation of the ImageNet-trained encoder (SPEC §1.1); the trimap enters as trimap / 255.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class IndexNetConfig:
    """Architecture options. Defaults = the published "M2O DINs" model (paper Table 5, best row)."""

    index_mode: str = "m2o"  # "m2o" (depthwise, many-to-one), "o2o" (depthwise, one-to-one), "holistic"
    nonlinear: bool = True  # index function: conv-BN-ReLU6-conv (True) or a single conv (False)
    context: bool = True  # 4x4 kernels with padding 1 (True) or 2x2 kernels, no overlap (False)
    aspp: bool = True  # ASPP after the encoder (True) or a 1x1 CBR (False)
    decoder_kernel: int = 5
    in_channels: int = 4  # RGB + trimap

    def __post_init__(self):
        if self.index_mode not in ("m2o", "o2o", "holistic"):
            raise ValueError(f"index_mode must be 'm2o', 'o2o' or 'holistic', got {self.index_mode!r}")
        if self.decoder_kernel % 2 != 1:
            raise ValueError(f"decoder_kernel must be odd, got {self.decoder_kernel}")

    def to_dict(self) -> dict:
        return asdict(self)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1,
            dilation: int = 1, relu: bool = True) -> list[nn.Module]:
    """Conv (no bias) -> BatchNorm -> ReLU6, as a list so callers keep the authors' flat indices."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """MobileNetV2 block with every stride 1 (IndexNet pools with its index blocks instead).

    Parity quirk (SPEC §1.2): the *block input* is zero-padded by one pixel and all convs use
    padding 0, so the 1x1 expansion sees the padded border and the depthwise conv's border taps
    are ReLU6(BN(0)), not zeros. Padding inside the depthwise conv changes outputs by ~0.07.
    """

    def __init__(self, c_in: int, c_out: int, expand_ratio: int):
        super().__init__()
        hidden = c_in * expand_ratio
        self.use_residual = c_in == c_out
        if expand_ratio == 1:
            layers = [*conv_bn(hidden, hidden, 3, groups=hidden), *conv_bn(hidden, c_out, 1, relu=False)]
        else:
            layers = [*conv_bn(c_in, hidden, 1), *conv_bn(hidden, hidden, 3, groups=hidden),
                      *conv_bn(hidden, c_out, 1, relu=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.pad(x, (1, 1, 1, 1)))
        return x + out if self.use_residual else out


class IndexBlock(nn.Module):
    """Learns where to pool and where to upsample (paper §4, Fig. 4/5).

    Returns the encoder index E (softmax-normalised over each 2x2 cell, used for pooling) and the
    decoder index D (sigmoid only, used to weight the upsampled decoder feature), both at the
    resolution of the input feature. Depthwise blocks (m2o / o2o) have four branches, one per
    sub-pixel of the 2x2 cell; branch k fills sub-pixel (k // 2, k % 2) via pixel shuffle.
    """

    def __init__(self, channels: int, mode: str = "m2o", nonlinear: bool = True, context: bool = True):
        super().__init__()
        self.mode = mode
        kernel, padding = (4, 1) if context else (2, 0)
        if mode == "holistic":
            # One index map shared by all channels: C -> 4 logits per cell.
            if nonlinear:
                self.indexnet = nn.Sequential(*conv_bn(channels, 2 * channels, kernel, 2, padding),
                                              nn.Conv2d(2 * channels, 4, 1, bias=False))
            else:
                self.indexnet = nn.Conv2d(channels, 4, kernel, 2, padding, bias=False)
            return
        groups = channels if mode == "o2o" else 1
        for k in range(1, 5):
            if nonlinear:
                branch = nn.Sequential(*conv_bn(channels, channels, kernel, 2, padding, groups=groups),
                                       nn.Conv2d(channels, channels, 1, groups=groups, bias=False))
            else:
                branch = nn.Sequential(nn.Conv2d(channels, channels, kernel, 2, padding, groups=groups, bias=False))
            setattr(self, f"indexnet{k}", branch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "holistic":
            y = torch.sigmoid(self.indexnet(x))  # N x 4 x h x w
            z = torch.softmax(y, dim=1)
            return F.pixel_shuffle(z, 2), F.pixel_shuffle(y, 2)
        logits = torch.stack([self.indexnet1(x), self.indexnet2(x), self.indexnet3(x), self.indexnet4(x)], dim=2)
        n, c, _, h, w = logits.shape
        y = torch.sigmoid(logits)
        # Softmax of the *sigmoid outputs*, not of the logits: that is what the released model
        # was trained with (using the logits changes the golden output by 1.45).
        z = torch.softmax(y, dim=2)
        # reshape (not view): the tensors may be channels-last.
        idx_en = F.pixel_shuffle(z.reshape(n, c * 4, h, w), 2)
        idx_de = F.pixel_shuffle(y.reshape(n, c * 4, h, w), 2)
        return idx_en, idx_de


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling at stride 32 (dilations 2, 4, 8), depthwise-separable branches."""

    def __init__(self, c_in: int = 320, c_out: int = 160, width: int = 256):
        super().__init__()
        self.aspp1 = _Branch(conv_bn(c_in, width, 1))
        for i, d in zip((2, 3, 4), (2, 4, 8)):
            setattr(self, f"aspp{i}", _Branch(conv_bn(c_in, c_in, 3, padding=d, dilation=d, groups=c_in)
                                              + conv_bn(c_in, width, 1)))
        self.global_avg_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn(c_in, width, 1))
        self.bottleneck_conv = nn.Sequential(*conv_bn(5 * width, c_out, 1))
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.global_avg_pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        x = torch.cat([self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), pooled], dim=1)
        return self.dropout(self.bottleneck_conv(x))


class _Branch(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.atrous_conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.atrous_conv(x)


class DecoderStage(nn.Module):
    """x <- D * nearest_upsample(x) (if indexed); concat [x, skip]; 5x5 CBR (paper §4, "IndexedUpsampling")."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5):
        super().__init__()
        self.dconv = nn.Sequential(*conv_bn(c_in, c_out, kernel, padding=kernel // 2))

    def forward(self, x: torch.Tensor, skip: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        if index is not None:
            x = index * F.interpolate(x, size=skip.shape[2:], mode="nearest")
        return self.dconv(torch.cat([x, skip], dim=1))


# (channels, blocks, expand ratio) of MobileNetV2 layers 1..7; layer 0 is the 3x3 stem to 32.
ENCODER_LAYERS = ((16, 1, 1), (24, 2, 6), (32, 3, 6), (64, 4, 6), (96, 3, 6), (160, 3, 6), (320, 1, 6))
# Encoder layers whose output is indexed and pooled (the authors' `index{0,2,3,4,6}`).
INDEXED_LAYERS = (0, 2, 3, 4, 6)


class IndexNetMatting(nn.Module):
    """Input N x 4 x H x W (normalised RGB, trimap / 255), H and W multiples of 32.
    Output N x 1 x H x W raw alpha (no activation: losses use it raw, inference clamps)."""

    def __init__(self, config: IndexNetConfig | None = None):
        super().__init__()
        self.config = config = config or IndexNetConfig()
        self.layer0 = nn.Sequential(*conv_bn(config.in_channels, 32, 3, padding=1))
        c = 32
        for i, (c_out, blocks, t) in enumerate(ENCODER_LAYERS, start=1):
            setattr(self, f"layer{i}", nn.Sequential(*[InvertedResidual(c if b == 0 else c_out, c_out, t)
                                                       for b in range(blocks)]))
            c = c_out
        channels = {0: 32, 2: 24, 3: 32, 4: 64, 6: 160}
        for i in INDEXED_LAYERS:
            setattr(self, f"index{i}", IndexBlock(channels[i], config.index_mode, config.nonlinear, config.context))
        self.dconv_pp = ASPP(320, 160) if config.aspp else nn.Sequential(*conv_bn(320, 160, 1))
        k = config.decoder_kernel
        self.decoder_layer6 = DecoderStage(160 + 160, 96, k)
        self.decoder_layer5 = DecoderStage(96 + 96, 64, k)
        self.decoder_layer4 = DecoderStage(64 + 64, 32, k)
        self.decoder_layer3 = DecoderStage(32 + 32, 24, k)
        self.decoder_layer2 = DecoderStage(24 + 24, 16, k)
        self.decoder_layer1 = DecoderStage(16 + 16, 32, k)
        self.decoder_layer0 = DecoderStage(32 + 32, 32, k)
        self.pred = nn.Sequential(nn.Sequential(*conv_bn(32, 1, k, padding=k // 2)),
                                  nn.Conv2d(1, 1, k, padding=k // 2, bias=False))
        self.reset_parameters()

    def reset_parameters(self):
        """He-normal (fan-out) convs, BN gamma 1 / beta 0 (SPEC §4, as the authors)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def encoder_modules(self) -> list[nn.Module]:
        """The MobileNetV2 layers (they get lr x 0.01 and frozen BN in the published recipe)."""
        return [getattr(self, f"layer{i}") for i in range(8)]

    @staticmethod
    def _pool(x: torch.Tensor, index_block: IndexBlock) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx_en, idx_de = index_block(x)
        x = idx_en * x  # also the decoder's skip feature
        # 4 * average = sum over the 2x2 cell: with E summing to 1 per cell this is a weighted pooling.
        return x, 4 * F.avg_pool2d(x, 2, stride=2), idx_de

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.config.in_channels or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"expected N x {self.config.in_channels} x H x W with H, W multiples of 32, "
                             f"got {tuple(x.shape)}")
        l0, x, d0 = self._pool(self.layer0(x), self.index0)
        l1 = self.layer1(x)
        l2, x, d2 = self._pool(self.layer2(l1), self.index2)
        l3, x, d3 = self._pool(self.layer3(x), self.index3)
        l4, x, d4 = self._pool(self.layer4(x), self.index4)
        l5 = self.layer5(x)
        l6, x, d6 = self._pool(self.layer6(l5), self.index6)
        x = self.dconv_pp(self.layer7(x))

        x = self.decoder_layer6(x, l6, d6)
        x = self.decoder_layer5(x, l5)
        x = self.decoder_layer4(x, l4, d4)
        x = self.decoder_layer3(x, l3, d3)
        x = self.decoder_layer2(x, l2, d2)
        x = self.decoder_layer1(x, l1)
        x = self.decoder_layer0(x, l0, d0)
        return self.pred(x)


# ---------------------------------------------------------------------------------------------
# Checkpoint key mappings. Our names are the authors' (minus DataParallel's "module." prefix).
# MMagic (mmagic/models/editors/indexnet) names the same 549 tensors differently; each rule maps
# a regex over an MMagic key to ours. Every key must match exactly one rule.
# ---------------------------------------------------------------------------------------------
_MMAGIC_INDEX_LAYER = {"0": "0", "1": "2", "2": "3", "3": "4", "4": "6"}  # index_layers.K -> index{N}
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"

MMAGIC_TO_OURS: list[tuple[str, str]] = [
    (r"backbone\.encoder\.layers\.0\.conv\.weight", "layer0.0.weight"),
    (rf"backbone\.encoder\.layers\.0\.bn\.{_BN}", r"layer0.1.\1"),
    # layer 1 (t=1): depthwise, pointwise
    (r"backbone\.encoder\.layers\.1\.(\d+)\.conv\.depthwise_conv\.conv\.weight", r"layer1.\1.conv.0.weight"),
    (rf"backbone\.encoder\.layers\.1\.(\d+)\.conv\.depthwise_conv\.bn\.{_BN}", r"layer1.\1.conv.1.\2"),
    (r"backbone\.encoder\.layers\.1\.(\d+)\.conv\.pointwise_conv\.conv\.weight", r"layer1.\1.conv.3.weight"),
    (rf"backbone\.encoder\.layers\.1\.(\d+)\.conv\.pointwise_conv\.bn\.{_BN}", r"layer1.\1.conv.4.\2"),
    # layers 2-7 (t=6): expand, depthwise, pointwise
    (r"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.0\.conv\.weight", r"layer\1.\2.conv.0.weight"),
    (rf"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.0\.bn\.{_BN}", r"layer\1.\2.conv.1.\3"),
    (r"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.1\.depthwise_conv\.conv\.weight", r"layer\1.\2.conv.3.weight"),
    (rf"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.1\.depthwise_conv\.bn\.{_BN}", r"layer\1.\2.conv.4.\3"),
    (r"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.1\.pointwise_conv\.conv\.weight", r"layer\1.\2.conv.6.weight"),
    (rf"backbone\.encoder\.layers\.([2-7])\.(\d+)\.conv\.1\.pointwise_conv\.bn\.{_BN}", r"layer\1.\2.conv.7.\3"),
    # index blocks: index_layers.K.index_blocks.B.{0 conv+bn, 1 conv} -> index{N}.indexnet{B+1}.{0,1,3}
    (r"backbone\.encoder\.index_layers\.(\d)\.index_blocks\.(\d)\.0\.conv\.weight", "index{K}.indexnet{B}.0.weight"),
    (rf"backbone\.encoder\.index_layers\.(\d)\.index_blocks\.(\d)\.0\.bn\.{_BN}", "index{K}.indexnet{B}.1.{g[2]}"),
    (r"backbone\.encoder\.index_layers\.(\d)\.index_blocks\.(\d)\.1\.conv\.weight", "index{K}.indexnet{B}.3.weight"),
    # ASPP
    (r"backbone\.encoder\.dconv\.convs\.0\.conv\.weight", "dconv_pp.aspp1.atrous_conv.0.weight"),
    (rf"backbone\.encoder\.dconv\.convs\.0\.bn\.{_BN}", r"dconv_pp.aspp1.atrous_conv.1.\1"),
    (r"backbone\.encoder\.dconv\.convs\.([1-3])\.depthwise_conv\.conv\.weight", "dconv_pp.aspp{A}.atrous_conv.0.weight"),
    (rf"backbone\.encoder\.dconv\.convs\.([1-3])\.depthwise_conv\.bn\.{_BN}", "dconv_pp.aspp{A}.atrous_conv.1.{g[1]}"),
    (r"backbone\.encoder\.dconv\.convs\.([1-3])\.pointwise_conv\.conv\.weight", "dconv_pp.aspp{A}.atrous_conv.3.weight"),
    (rf"backbone\.encoder\.dconv\.convs\.([1-3])\.pointwise_conv\.bn\.{_BN}", "dconv_pp.aspp{A}.atrous_conv.4.{g[1]}"),
    (r"backbone\.encoder\.dconv\.convs\.4\.1\.conv\.weight", "dconv_pp.global_avg_pool.1.weight"),
    (rf"backbone\.encoder\.dconv\.convs\.4\.1\.bn\.{_BN}", r"dconv_pp.global_avg_pool.2.\1"),
    (r"backbone\.encoder\.dconv\.project\.0\.conv\.weight", "dconv_pp.bottleneck_conv.0.weight"),
    (rf"backbone\.encoder\.dconv\.project\.0\.bn\.{_BN}", r"dconv_pp.bottleneck_conv.1.\1"),
    # decoder: decoder_layers.J -> decoder_layer{6-J}
    (r"backbone\.decoder\.decoder_layers\.(\d)\.conv\.conv\.weight", "decoder_layer{D}.dconv.0.weight"),
    (rf"backbone\.decoder\.decoder_layers\.(\d)\.conv\.bn\.{_BN}", "decoder_layer{D}.dconv.1.{g[1]}"),
    (r"backbone\.decoder\.pred\.0\.conv\.weight", "pred.0.0.weight"),
    (rf"backbone\.decoder\.pred\.0\.bn\.{_BN}", r"pred.0.1.\1"),
    (r"backbone\.decoder\.pred\.1\.weight", "pred.1.weight"),
]


def mmagic_key_to_ours(key: str) -> str | None:
    """Our name for an MMagic state-dict key, or None if no rule matches."""
    for pattern, target in MMAGIC_TO_OURS:
        m = re.fullmatch(pattern, key)
        if m is None:
            continue
        if "{" not in target:
            return m.expand(target)
        g = m.groups()
        # Numbering that is not a plain copy: index layer K -> index{N}, block B -> indexnet{B+1},
        # ASPP branch A -> aspp{A+1}, decoder_layers.J -> decoder_layer{6-J}.
        if target.startswith("index"):
            return target.format(g=g, K=_MMAGIC_INDEX_LAYER[g[0]], B=int(g[1]) + 1)
        if target.startswith("dconv_pp"):
            return target.format(g=g, A=int(g[0]) + 1)
        return target.format(g=g, D=6 - int(g[0]))
    return None


def torchvision_mobilenet_v2_to_ours(state_dict: dict, in_channels: int = 4) -> dict:
    """Map torchvision's `mobilenet_v2` ImageNet weights onto our encoder (layer0..layer7).

    torchvision: features.0 = stem, features.1 = the t=1 block, features.2..17 = the 16 t=6
    blocks (in order: layer2 x2, layer3 x3, layer4 x4, layer5 x3, layer6 x3, layer7 x1),
    features.18 and the classifier are not used. The stem gets zero weights for the extra
    (trimap) input channel, so at initialisation the network sees the RGB image exactly as the
    classifier did (SPEC §4).
    """
    blocks = [(layer, b) for layer, (_, n, _) in enumerate(ENCODER_LAYERS[1:], start=2) for b in range(n)]
    t6 = {"conv.0.0": "conv.0", "conv.0.1": "conv.1", "conv.1.0": "conv.3", "conv.1.1": "conv.4",
          "conv.2": "conv.6", "conv.3": "conv.7"}
    t1 = {"conv.0.0": "conv.0", "conv.0.1": "conv.1", "conv.1": "conv.3", "conv.2": "conv.4"}
    out = {}
    for key, value in state_dict.items():
        m = re.fullmatch(r"features\.(\d+)\.(.+)\.(weight|bias|running_mean|running_var|num_batches_tracked)", key)
        if m is None:
            continue  # classifier
        idx, module, param = int(m.group(1)), m.group(2), m.group(3)
        if idx == 0:
            target = {"0": "layer0.0", "1": "layer0.1"}[module]
            if module == "0" and value.shape[1] < in_channels:
                extra = value.new_zeros(value.shape[0], in_channels - value.shape[1], *value.shape[2:])
                value = torch.cat([value, extra], dim=1)
        elif idx == 1:
            target = f"layer1.0.{t1[module]}"
        elif idx <= 17:
            layer, b = blocks[idx - 2]
            target = f"layer{layer}.{b}.{t6[module]}"
        else:
            continue  # features.18: the 320 -> 1280 classifier head conv
        out[f"{target}.{param}"] = value
    return out
