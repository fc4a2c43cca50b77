"""Inference-only IndexNet: the same function as `IndexNetMatting` in eval mode, computed faster and leaner.

`optimize_for_inference(model)` builds a new module from a model's weights (the model itself is left
untouched). Raw outputs agree with the eager model to ~1e-5 (float32 rounding only): every change
below is an exact rewrite of the network in SPEC §1.

- **BatchNorm folded** into the preceding conv (no conv has a bias): w' = w·γ/√(σ²+ε),
  b' = β − μ·γ/√(σ²+ε), computed in float64. ReLU6 stays after the folded conv. The
  inverted-residual padding quirk (SPEC §1.2) survives folding: the 1×1 expansion still runs on the
  zero-padded input, where conv(0) + b' = BN(0), so the depthwise conv's border taps still see
  ReLU6(BN(0)).
- **Channels-last** (NHWC) tensors throughout: oneDNN's native layout, no reorders around each conv.
- **Index blocks**: the four M2O branches share their input, so their 4×4 convs run as one C→4C conv
  and their 1×1 convs as one grouped conv (groups 4). The logits stay branch-major (channel k·C+c),
  which in NHWC *is* the 2×2 sub-pixel layout of the pixel shuffle: E⊙x, the pooling and the
  decoder's D⊙upsample(x) become one multiply over strided views each. E, D and the upsampled
  decoder feature are never materialised; the decoder keeps y = sigmoid(logits) at half resolution.
  The ×4 of the pooling (4·avgpool = sum over the cell) is folded into the next conv's weights.
- **Horizontal stripes**: every stage runs over a few rows at a time (stripe height from a working-set
  budget, `stripe_elements`), each stripe reading exactly the input rows its output rows depend on
  (a halo of 1–2 rows, zeros outside the image, as the convs' own padding). Only outputs that are
  needed later are stored at full size: the big expanded (6×) tensors of the inverted residuals,
  the index logits, the concatenated decoder inputs and the full-resolution decoder output and head
  exist one stripe at a time. This is what keeps a 4000×3000 image well inside 12 GB, and it is
  faster too: stripe-sized buffers stay in cache and are recycled by malloc instead of being
  page-faulted in afresh for every op. The stem (layer0) is computed inside index block 0's stripes,
  decoder stage 0 streams its rows straight into the two head convs. The halo costs a little
  recomputation in the cheap ops only (the 1×1 expansion convs: 2 rows per stripe; the 4→32 stem:
  2 rows per stripe); no 5×5 decoder conv output or index conv output is computed twice.
  Global pooling (ASPP) runs on the whole H/32 feature, as it must.
- The head's 5×5 conv to one channel, slow in oneDNN, runs as a 1×5 conv to 5 channels plus a 5×1 sum.
- In-place ReLU6 / sigmoid; `out=` writes into the stored tensors; intermediates die with their stripe.

The module is inference-only (`torch.inference_mode` inside `forward`) and a snapshot: later changes to
the source model's weights do not reach it. `fast_model(model)` (what `predict` calls) caches the
optimised copy per model and rebuilds it whenever the weights change.
"""
from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from .model import ASPP, ENCODER_LAYERS, INDEXED_LAYERS, DecoderStage, IndexBlock, IndexNetMatting, InvertedResidual

CHANNELS_LAST = torch.channels_last
# Elements (float32) in the largest per-stripe tensor of a stage (8 MB): 1-2M was fastest at 1024² on a 2-core
# EPYC (4M: -5%, 16M: -20%, 0.5M: -10%); smaller budgets mean more, smaller ops.
DEFAULT_STRIPE_ELEMENTS = 1 << 21
# Decoder 5×5 convs lose efficiency on short stripes (the 4-row halo is re-read), so they get more rows.
DECODER_MIN_ROWS = 32


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight and bias of conv followed by (eval-mode) BN as one conv, computed in float64."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else None
    if bn is None:
        return w.float(), None if b is None else b.float()
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.detach().double() - bn.running_mean.double() * scale
    if b is not None:
        shift = shift + b * scale
    return (w * scale.view(-1, 1, 1, 1)).float(), shift.float()


def _empty_cl(like: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=CHANNELS_LAST)


def _rows(x: torch.Tensor, lo: int, hi: int, pad_cols: int = 0) -> torch.Tensor:
    """Rows [lo, hi) of x, zero where they fall outside the image, plus pad_cols zero columns each side."""
    height = x.shape[2]
    s = x[:, :, max(lo, 0):min(hi, height)]
    top, bottom = max(0, -lo), max(0, hi - height)
    return F.pad(s, (pad_cols, pad_cols, top, bottom)) if top or bottom or pad_cols else s


def _stripes(height: int, rows: int):
    for r0 in range(0, height, rows):
        yield r0, min(r0 + rows, height)


def _stripe_rows(budget: int, row_elements: int, multiple: int = 2, minimum: int = 2) -> int:
    rows = max(minimum, budget // max(row_elements, 1))
    return max(multiple, rows - rows % multiple)


class FusedConv(nn.Module):
    """Conv2d with bias (a folded BN) and an optional in-place ReLU6; channels-last weights."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride=1, padding=0, dilation=1,
                 groups: int = 1, relu6: bool = False):
        super().__init__()
        self.register_buffer("weight", weight.contiguous(memory_format=CHANNELS_LAST))
        self.register_buffer("bias", None if bias is None else bias.contiguous())
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        self.stride, self.padding, self.dilation = pair(stride), pair(padding), pair(dilation)
        self.groups, self.relu6 = groups, relu6

    @classmethod
    def from_sequence(cls, layers) -> list[FusedConv]:
        """[Conv, BN?, ReLU6?]* (an `nn.Sequential` of `conv_bn` pieces, or one conv) -> fused convs."""
        layers, out, i = ([layers] if isinstance(layers, nn.Conv2d) else list(layers)), [], 0
        while i < len(layers):
            conv = layers[i]
            assert isinstance(conv, nn.Conv2d), type(conv)
            bn = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d) else None
            i += 1 + (bn is not None)
            relu = i < len(layers) and isinstance(layers[i], nn.ReLU6)
            i += relu
            w, b = _fold(conv, bn)
            out.append(cls(w, b, conv.stride, conv.padding, conv.dilation, conv.groups, relu))
        return out

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:])

    def forward(self, x: torch.Tensor, row_padding: int | None = None) -> torch.Tensor:
        """row_padding overrides the vertical padding (0 for stripes that carry their own halo rows)."""
        padding = self.padding if row_padding is None else (row_padding, self.padding[1])
        y = F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return y.clamp_(0, 6) if self.relu6 else y


class SingleOutputConv(nn.Module):
    """A k×k conv with one output channel (the head's 32→1), computed as a 1×k conv to k channels (one per
    kernel row) followed by a k×1 conv that sums row i of channel i — the same sum regrouped. oneDNN is
    slow for one output channel (~4 GFLOP/s here); this runs ~3× faster. Vertical padding: none (stripes)."""

    def __init__(self, conv: FusedConv):
        super().__init__()
        _, c, kh, kw = conv.weight.shape
        taps = max(8, kh)  # 8 output channels: one AVX2 register of floats
        rows_as_channels = conv.weight.new_zeros(taps, c, 1, kw)
        rows_as_channels[:kh] = conv.weight[0].permute(1, 0, 2).unsqueeze(2)
        select = conv.weight.new_zeros(1, taps, kh, 1)
        select[0, torch.arange(kh), torch.arange(kh), 0] = 1
        self.register_buffer("rows", rows_as_channels.contiguous(memory_format=CHANNELS_LAST))
        self.register_buffer("select", select.contiguous(memory_format=CHANNELS_LAST))
        self.register_buffer("bias", conv.bias)
        self.padding, self.relu6, self.kernel = conv.padding, conv.relu6, conv.kernel

    def forward(self, x: torch.Tensor, row_padding: int = 0) -> torch.Tensor:
        assert row_padding == 0
        y = F.conv2d(F.conv2d(x, self.rows, None, padding=(0, self.padding[1])), self.select, self.bias)
        return y.clamp_(0, 6) if self.relu6 else y


class FastInvertedResidual(nn.Module):
    """pad(x) -> [1×1 CBR] -> 3×3 depthwise CBR (padding 0) -> 1×1 CB (+ x), in stripes of rows."""

    def __init__(self, block: InvertedResidual):
        super().__init__()
        self.convs = nn.ModuleList(FusedConv.from_sequence(block.conv))
        self.use_residual = block.use_residual
        self.hidden = self.convs[-1].weight.shape[1]

    def scale_input(self, factor: float) -> None:
        """Compute block(factor·x) instead of block(x): exact for the linear first conv of a non-residual block."""
        assert not self.use_residual
        self.convs[0].weight.mul_(factor)

    def _stripe(self, x: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
        s = _rows(x, r0 - 1, r1 + 1, pad_cols=1)  # the block's zero padding of its input (SPEC §1.2)
        for conv in self.convs:
            s = conv(s)
        return s

    def forward(self, x: torch.Tensor, stripe_elements: int) -> torch.Tensor:
        n, _, height, width = x.shape
        rows = _stripe_rows(stripe_elements, (width + 2) * self.hidden)
        if rows >= height:
            out = self._stripe(x, 0, height)
            return out.add_(x) if self.use_residual else out
        out = _empty_cl(x, n, self.convs[-1].weight.shape[0], height, width)
        for r0, r1 in _stripes(height, rows):
            s = self._stripe(x, r0, r1)
            if self.use_residual:
                torch.add(s, x[:, :, r0:r1], out=out[:, :, r0:r1])
            else:
                out[:, :, r0:r1].copy_(s)
        return out


class FastLayer(nn.Sequential):
    def forward(self, x: torch.Tensor, stripe_elements: int) -> torch.Tensor:
        for block in self:
            x = block(x, stripe_elements)
        return x


def _sub_pixel_view(t: torch.Tensor) -> torch.Tensor:
    """An N×C×H×W tensor with NHWC strides as its N×h×2×w×2×C view (the 2×2 cells of the pixel shuffle)."""
    n, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).view(n, h // 2, 2, w // 2, 2, c)


def _branch_view(y: torch.Tensor) -> torch.Tensor:
    """Branch-major index maps N×4C'×h×w (NHWC strides) as the N×h×2×w×2×C' view of their pixel shuffle."""
    n, c4, h, w = y.shape
    return y.permute(0, 2, 3, 1).view(n, h, w, 2, 2, c4 // 4).permute(0, 1, 3, 2, 4, 5)


class FastIndexBlock(nn.Module):
    """Index block + pooling, in stripes of output rows.

    Returns (skip = E⊙x, pooled = avgpool(E⊙x) — the ×4 is folded into the next conv —, y = sigmoid(logits)),
    with y branch-major at half resolution (channel k·C'+c; C' = C, or 1 for holistic). The pixel shuffle
    of y is the decoder index D, applied by `decoder_index_product`.
    """

    def __init__(self, block: IndexBlock):
        super().__init__()
        if block.mode == "holistic":
            self.branches = nn.ModuleList([nn.Sequential(*FusedConv.from_sequence(block.indexnet))])
        else:
            branches = [FusedConv.from_sequence(getattr(block, f"indexnet{k}")) for k in range(1, 5)]
            if branches[0][0].groups == 1:  # m2o: the four branches read the same x -> one conv C -> 4C
                first = branches[0][0]
                fused = [FusedConv(torch.cat([b[0].weight for b in branches]),
                                   None if first.bias is None else torch.cat([b[0].bias for b in branches]),
                                   first.stride, first.padding, first.dilation, 1, first.relu6)]
                if len(branches[0]) == 2:  # nonlinear: the four 1×1 convs as one grouped conv
                    fused.append(FusedConv(torch.cat([b[1].weight for b in branches]), None, groups=4))
                self.branches = nn.ModuleList([nn.Sequential(*fused)])
            else:  # o2o (depthwise): four convs, concatenated branch-major
                self.branches = nn.ModuleList([nn.Sequential(*b) for b in branches])
        first = self.branches[0][0]
        self.kernel, self.padding = first.kernel[0], first.padding[0]
        self.index_channels = sum(b[-1].weight.shape[0] for b in self.branches)

    def _logits(self, s: torch.Tensor) -> torch.Tensor:
        outs = []
        for branch in self.branches:
            t = branch[0](s, row_padding=0)
            for conv in list(branch)[1:]:
                t = conv(t)
            outs.append(t)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def forward(self, x: torch.Tensor, stripe_elements: int, stem: FusedConv | None = None):
        """x: the block's input; or, with `stem`, the input of a stride-1 conv whose output is the block's input
        (layer0), computed stripe by stripe so that it never exists at full size."""
        n, _, height, width = x.shape
        c = stem.weight.shape[0] if stem is not None else x.shape[1]
        h, w = height // 2, width // 2
        skip = _empty_cl(x, n, c, height, width)
        pooled = _empty_cl(x, n, c, h, w)
        y = _empty_cl(x, n, self.index_channels, h, w)
        k, p = self.kernel, self.padding
        rows = _stripe_rows(stripe_elements, w * max(self.index_channels, 2 * c), multiple=1, minimum=1)
        for a, b in _stripes(h, rows):
            lo, hi = 2 * a - p, 2 * b - 2 - p + k  # input rows of output rows [a, b) (stride 2)
            s = _rows(x, lo, hi) if stem is None else self._stem_rows(x, stem, lo, hi)
            ys = y[:, :, a:b]
            torch.sigmoid(self._logits(s), out=ys)
            # Softmax over the four branches *of the sigmoid outputs* (SPEC §1.3).
            z = torch.softmax(ys.permute(0, 2, 3, 1).view(n, b - a, w, 4, -1), dim=3)
            z = z.view(n, b - a, w, 2, 2, -1).permute(0, 1, 3, 2, 4, 5)
            cells = skip[:, :, 2 * a:2 * b]
            torch.mul(_sub_pixel_view(s[:, :, p:p + 2 * (b - a)]), z, out=_sub_pixel_view(cells))
            del z, s
            pooled[:, :, a:b] = F.avg_pool2d(cells, 2)
        return skip, pooled, y

    @staticmethod
    def _stem_rows(x: torch.Tensor, stem: FusedConv, lo: int, hi: int) -> torch.Tensor:
        """Rows [lo, hi) of stem(x), zeros outside the image (the index conv's own padding)."""
        height = x.shape[2]
        clo, chi = max(lo, 0), min(hi, height)
        kh, ph = stem.kernel[0], stem.padding[0]
        s = stem(_rows(x, clo - ph, chi + kh - 1 - ph), row_padding=0)
        return F.pad(s, (0, 0, clo - lo, hi - chi)) if clo > lo or hi > chi else s


def decoder_index_product(x: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
    """out (N×C×H×W with NHWC-ordered strides) <- D ⊙ nearest_upsample(x), D = pixel_shuffle(y) (SPEC §1.5)."""
    n, c, h, w = x.shape
    xs = x.permute(0, 2, 3, 1).reshape(n, h, 1, w, 1, c)
    torch.mul(_branch_view(y), xs, out=out.permute(0, 2, 3, 1).view(n, h, 2, w, 2, c))


class FastDecoderStage(nn.Module):
    """[D⊙up(x) or x, skip] -> 5×5 CBR, in stripes: only one stripe of the concatenation exists at a time."""

    def __init__(self, stage: DecoderStage):
        super().__init__()
        (self.conv,) = FusedConv.from_sequence(stage.dconv)
        half = self.conv.kernel[0] // 2
        self.halo = half + half % 2  # even, so that stripes start on whole rows of the half-resolution x

    def stripe(self, x: torch.Tensor, skip: torch.Tensor, y: torch.Tensor | None, r0: int, r1: int) -> torch.Tensor:
        """Output rows [r0, r1), before the ReLU6."""
        n, c, height, width = skip.shape
        cx = x.shape[1]
        a, b = r0 - self.halo, r1 + self.halo
        lo, hi = max(a, 0), min(b, height)
        buf = _empty_cl(skip, n, cx + c, b - a, width)
        if lo > a:
            buf[:, :, :lo - a].zero_()
        if hi < b:
            buf[:, :, hi - a:].zero_()
        if y is None:
            buf[:, :cx, lo - a:hi - a].copy_(x[:, :, lo:hi])
        else:
            decoder_index_product(x[:, :, lo // 2:hi // 2], y[:, :, lo // 2:hi // 2], buf[:, :cx, lo - a:hi - a])
        buf[:, cx:, lo - a:hi - a].copy_(skip[:, :, lo:hi])
        d = F.conv2d(buf, self.conv.weight, self.conv.bias, padding=(0, self.conv.padding[1]))
        skew = self.halo - self.conv.kernel[0] // 2
        return d[:, :, skew:skew + r1 - r0]

    def rows_per_stripe(self, x: torch.Tensor, skip: torch.Tensor, stripe_elements: int) -> int:
        return _stripe_rows(stripe_elements, skip.shape[3] * (x.shape[1] + skip.shape[1]), minimum=DECODER_MIN_ROWS)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, y: torch.Tensor | None, stripe_elements: int):
        n, _, height, width = skip.shape
        out = _empty_cl(skip, n, self.conv.weight.shape[0], height, width)
        for r0, r1 in _stripes(height, self.rows_per_stripe(x, skip, stripe_elements)):
            torch.clamp(self.stripe(x, skip, y, r0, r1), 0, 6, out=out[:, :, r0:r1])
        return out


class _RowStream:
    """A stride-1 conv with vertical zero padding `halo`, fed its input as consecutive row blocks.

    push(block) returns the output rows that became computable (they lag the input by `halo` rows), or
    None; finish() returns the last ones. Only 2·halo rows of input are carried between blocks.
    """

    def __init__(self, fn, halo: int):
        self.fn, self.halo, self.carry = fn, halo, None

    def push(self, block: torch.Tensor) -> torch.Tensor | None:
        if self.carry is None:
            self.carry = block.new_zeros(*block.shape[:2], self.halo, block.shape[3])
        win = _empty_cl(block, *block.shape[:2], self.carry.shape[2] + block.shape[2], block.shape[3])
        win[:, :, :self.carry.shape[2]].copy_(self.carry)
        win[:, :, self.carry.shape[2]:].copy_(block)
        self.carry = win[:, :, max(0, win.shape[2] - 2 * self.halo):]
        return self.fn(win) if win.shape[2] > 2 * self.halo else None

    def finish(self) -> torch.Tensor | None:
        return self.push(self.carry.new_zeros(*self.carry.shape[:2], self.halo, self.carry.shape[3]))


class FastASPP(nn.Module):
    def __init__(self, aspp: ASPP):
        super().__init__()
        self.branches = nn.ModuleList([nn.Sequential(*FusedConv.from_sequence(getattr(aspp, f"aspp{i}").atrous_conv))
                                       for i in range(1, 5)])
        self.pool_conv = nn.Sequential(*FusedConv.from_sequence(list(aspp.global_avg_pool)[1:]))
        self.bottleneck = nn.Sequential(*FusedConv.from_sequence(aspp.bottleneck_conv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool_conv(x.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, x.shape[2], x.shape[3])
        return self.bottleneck(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class FastIndexNet(nn.Module):
    """Inference-only twin of an `IndexNetMatting` (see the module docstring). Input and output as the
    original: N×4×H×W (H, W multiples of 32) -> N×1×H×W raw alpha, float32."""

    def __init__(self, model: IndexNetMatting, stripe_elements: int = DEFAULT_STRIPE_ELEMENTS):
        super().__init__()
        self.config = model.config
        self.stripe_elements = stripe_elements
        # The layer list is the model's (ENCODER_LAYERS, INDEXED_LAYERS); layer0 runs inside index block 0.
        assert INDEXED_LAYERS[0] == 0, "the stem is computed inside index block 0's stripes"
        (self.layer0,) = FusedConv.from_sequence(model.layer0)
        for i in range(1, len(ENCODER_LAYERS) + 1):
            setattr(self, f"layer{i}", FastLayer(*[FastInvertedResidual(b) for b in getattr(model, f"layer{i}")]))
        for i in INDEXED_LAYERS:
            setattr(self, f"index{i}", FastIndexBlock(getattr(model, f"index{i}")))
            # Pooling is 4·avgpool; the ×4 goes into the (linear, non-residual) first conv that reads it.
            getattr(self, f"layer{i + 1}")[0].scale_input(4.0)
        self.dconv_pp = FastASPP(model.dconv_pp) if isinstance(model.dconv_pp, ASPP) else \
            nn.Sequential(*FusedConv.from_sequence(model.dconv_pp))
        for i in range(len(ENCODER_LAYERS)):  # one decoder stage per encoder layer below the last
            setattr(self, f"decoder_layer{i}", FastDecoderStage(getattr(model, f"decoder_layer{i}")))
        self.pred0, self.pred1 = FusedConv.from_sequence(model.pred[0]) + FusedConv.from_sequence(model.pred[1:])
        if self.pred0.weight.shape[0] == 1 and self.pred0.weight.shape[1] > 1:
            self.pred0 = SingleOutputConv(self.pred0)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError("FastIndexNet is inference-only; train the IndexNetMatting it was made from")
        return super().train(False)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"expected N x {self.config.in_channels} x H x W with H, W multiples of 32, "
                             f"got {tuple(x.shape)}")
        budget = self.stripe_elements
        x = x.to(self.layer0.weight.dtype).contiguous(memory_format=CHANNELS_LAST)
        # Encoder: per layer, the decoder's skip feature and (indexed layers) the index maps y.
        skip, x, y = self.index0(x, budget, stem=self.layer0)
        skips = [(skip, y)]
        for i in range(1, len(ENCODER_LAYERS)):
            x = getattr(self, f"layer{i}")(x, budget)
            if i in INDEXED_LAYERS:
                skip, x, y = getattr(self, f"index{i}")(x, budget)
                skips.append((skip, y))
            else:
                skips.append((x, None))
        x = self.dconv_pp(getattr(self, f"layer{len(ENCODER_LAYERS)}")(x, budget))
        # Decoder, deepest first; each skip feature is freed as soon as its stage has used it.
        for i in range(len(skips) - 1, 0, -1):
            skip, y = skips.pop()
            x = getattr(self, f"decoder_layer{i}")(x, skip, y, budget)
        del skip, y
        return self._stage0_and_head(x, *skips.pop())

    def _stage0_and_head(self, x: torch.Tensor, skip: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Decoder stage 0 stripe by stripe, each stripe streamed through the head's two convs."""
        stage = self.decoder_layer0
        n, _, height, width = skip.shape
        out = skip.new_empty(n, 1, height, width)
        head0 = _RowStream(lambda win: self.pred0(win, row_padding=0), self.pred0.kernel[0] // 2)
        head1 = _RowStream(lambda win: self.pred1(win, row_padding=0), self.pred1.kernel[0] // 2)
        done = 0

        def emit(rows: torch.Tensor | None) -> None:
            nonlocal done
            if rows is not None:
                out[:, :, done:done + rows.shape[2]] = rows
                done += rows.shape[2]

        for r0, r1 in _stripes(height, stage.rows_per_stripe(x, skip, self.stripe_elements)):
            h = head0.push(stage.stripe(x, skip, y, r0, r1).clamp_(0, 6))
            if h is not None:
                emit(head1.push(h))
        h = head0.finish()
        if h is not None:
            emit(head1.push(h))
        emit(head1.finish())
        assert done == height
        return out


def optimize_for_inference(model: IndexNetMatting, stripe_elements: int = DEFAULT_STRIPE_ELEMENTS) -> FastIndexNet:
    """A new, inference-only module computing `model.eval()(x)` faster and in less memory.

    Snapshot of the model's current weights and BN running statistics (eval-mode semantics even if
    `model` is in training mode); `model` itself is not modified. float32, on the model's device.
    """
    with torch.no_grad():
        fast = FastIndexNet(model, stripe_elements)
    return fast.to(next(model.parameters()).device)


# ----------------------------------------------------------------------------- the cache predict uses
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (weights version, FastIndexNet)


def _weights_version(model: nn.Module) -> tuple | None:
    """Identity, storage and in-place version counter of every parameter and buffer, or None if untrackable.

    Every ordinary way of changing weights moves one of them: optimizer steps and `load_state_dict` (in-place
    ops bump `_version`), BN running statistics updated by a training-mode forward, `.to()`, assigning a new
    Parameter or `.data`. Not seen: in-place edits through `.data` / `.detach()` views, which PyTorch does not
    version — call `forget(model)` after those.
    """
    try:
        return tuple((t, t._version, t.data_ptr()) for t in (*model.parameters(), *model.buffers()))
    except RuntimeError:  # inference tensors (created under torch.inference_mode) have no version counter
        return None


def _same_version(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x[0] is y[0] and x[1:] == y[1:] for x, y in zip(a, b))


def fast_model(model: nn.Module) -> nn.Module:
    """The module `predict` should run for `model`: a cached `optimize_for_inference(model)` when that is
    exact and possible, else `model` itself.

    Rule: an `IndexNetMatting` in eval mode, float32, on the CPU, gets the optimised copy, built on first use
    and cached (weakly, the model is not modified) together with its weights version (`_weights_version`). Any
    later change of a parameter or buffer makes the next call rebuild it, so a model being trained and
    evaluated in turn never sees stale weights. A model in training mode runs as itself (its BatchNorm then
    uses batch statistics, which folding cannot express).
    """
    if not isinstance(model, IndexNetMatting) or model.training:
        return model
    param = next(model.parameters())
    if param.device.type != "cpu" or param.dtype != torch.float32:
        return model
    version = _weights_version(model)
    if version is None:
        return model
    cached = _CACHE.get(model)
    if cached is not None and _same_version(cached[0], version):
        return cached[1]
    fast = optimize_for_inference(model)
    _CACHE[model] = (version, fast)
    return fast


def forget(model: nn.Module) -> None:
    """Drop the cached optimised copy of `model` (needed only after in-place edits through `.data`)."""
    _CACHE.pop(model, None)
