"""Building blocks of QGAC: the CFM layers, ESRGAN's RRDB, and the per-frequency layout.

Layouts used throughout (all float, normalised DCT domain unless said otherwise):

* tiled plane ``(N, C, H, W)``: each 8x8 tile holds one block's 64 coefficients (natural order);
* block grid ``(N, C, H/8, W/8)``: one feature vector per block;
* frequency layout ``(N, 64 * C, H/8, W/8)``: channel ``f * C + c`` is feature ``c`` of frequency
  ``f`` (frequency-major), so a convolution with ``groups=64`` works on each frequency alone.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..dispatch import check_backend
from ..functional.cfm import unique_tables
from ..ops import cfm_conv, cfm_conv_transpose

__all__ = ["CFM", "RRDB", "Tables", "frequencies_to_tiles", "make_tables", "tiles_to_frequencies"]

BLOCK = 8
FREQUENCIES = BLOCK * BLOCK


class Tables(NamedTuple):
    """A batch's quantization tables as the CFMs take them.

    Attributes:
        values: ``(T, 1, 8, 8)`` float, the distinct tables' steps divided by 255 (hypernetwork input).
        index: ``(N,)`` int64, which distinct table each sample uses.
    """

    values: torch.Tensor
    index: torch.Tensor


#: The largest quantization step the hypernetworks are conditioned on: steps above it (16-bit
#: tables, such as cjpeg's default below quality 25 and other encoders' tables) are clamped to it
#: in the conditioning only; the model's input coefficients and the quantization-bin constraint
#: keep the file's real steps. The shipped weights never saw a larger step in training; unclamped,
#: such files came out far worse than the JPEG (astronaut at cjpeg q2: 19.74 -> 4.64 dB), clamped
#: every tested table gains (``tests/test_table_range.py``).
MAX_CONDITIONING_STEP = 255


def make_tables(tables: torch.Tensor, dtype: torch.dtype = torch.float32, *, static: bool = False) -> Tables:
    """Distinct tables of a batch, scaled for the hypernetworks (steps clamped to
    :data:`MAX_CONDITIONING_STEP`, then divided by 255).

    Args:
        tables: ``(N, 8, 8)`` quantization steps (any real dtype, raw values 1..65535).
        dtype: float dtype of the hypernetwork input.
        static: give ``values`` ``N`` rows whatever the number ``T`` of distinct tables (the
            distinct ones first, then copies of the first; ``index`` only points at the first
            ``T``). The shapes then depend on the batch size alone, which ``torch.compile`` needs:
            the data-dependent ``T`` makes inductor fail (torch 2.13). The hypernetworks then run
            ``N`` times, which costs little next to the image; the CFMs still read one weight
            set per distinct table.
    """
    unique, index = unique_tables(tables)
    if static:
        unique = torch.cat([unique, unique[:1].expand(tables.shape[0] - unique.shape[0], -1, -1)])
    return Tables(unique.to(dtype).clamp(max=MAX_CONDITIONING_STEP).unsqueeze(1) / 255.0, index)


def tiles_to_frequencies(x: torch.Tensor) -> torch.Tensor:
    """Tiled ``(N, C, H, W)`` -> frequency layout ``(N, 64 * C, H/8, W/8)``."""
    n, c, h, w = x.shape
    # Two copies: a transpose within each row of blocks (a few KB, in cache), then runs of W/8
    # values moved whole to their frequency. One strided copy read across the whole plane for each
    # frequency, on one thread: 2-3x slower (24 channels of a megapixel in bf16, tcmalloc: 86 -> 30 ms).
    x = x.reshape(n, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(4, 5).contiguous()
    return x.permute(0, 3, 4, 1, 2, 5).reshape(n, FREQUENCIES * c, h // BLOCK, w // BLOCK)


def frequencies_to_tiles(x: torch.Tensor) -> torch.Tensor:
    """Frequency layout ``(N, 64 * C, h, w)`` -> tiled ``(N, C, 8h, 8w)``."""
    n, fc, h, w = x.shape
    c = fc // FREQUENCIES
    x = x.reshape(n, BLOCK, BLOCK, c, h, w)
    return x.permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * BLOCK, w * BLOCK)


class CFM(nn.Module):
    """Convolutional Filter Manifold: a convolution whose weights a quantization table generates.

    Hypernetwork: table ``(T, 1, 8, 8)`` -> Conv 8x8 (1 -> M) -> PReLU -> Conv 1x1 (M -> M) ->
    PReLU -> a transposed-conv head (M -> Cout * Cin, kernel 8) giving one ``(Cout, Cin, 8, 8)``
    kernel per table and a 1x1 head (M -> Cout) giving its bias. The kernel is applied with
    kernel 8 / stride 8 (:func:`qgac_fast.ops.cfm_conv`), or transposed
    (:func:`~qgac_fast.ops.cfm_conv_transpose`) to map block features back to tiles,
    followed by a PReLU (one slope).

    Args:
        in_channels, out_channels: ``Cin``, ``Cout``.
        manifold: the hypernetwork's width ``M``.
        transposed: block grid -> tiles instead of tiles -> block grid.
        float32: run in float32 even under autocast (see :class:`~qgac_fast.model.networks.YNet`).
        backend: the CFM op's backend (``"auto"``, ``"reference"``, ``"triton"``); "auto" uses
            the reference whenever gradients are needed (:mod:`qgac_fast.dispatch`). A model's
            CFMs are switched together with :attr:`qgac_fast.model.QGAC.cfm_backend`.

    Raises:
        ValueError: any other ``backend``.

    Shape:
        forward(x, tables): ``(N, Cin, H, W)`` tiled -> ``(N, Cout, H/8, W/8)``, or transposed
        ``(N, Cin, h, w)`` -> ``(N, Cout, 8h, 8w)``.
    """

    def __init__(self, in_channels: int, out_channels: int, manifold: int, *, transposed: bool = False,
                 float32: bool = False, backend: str = "auto"):
        super().__init__()
        self.in_channels, self.out_channels, self.transposed = in_channels, out_channels, transposed
        self.float32 = float32
        self.backend = check_backend("cfm_conv", backend)
        self.manifold = nn.Sequential(
            nn.Conv2d(1, manifold, BLOCK), nn.PReLU(), nn.Conv2d(manifold, manifold, 1), nn.PReLU())
        self.weight_head = nn.ConvTranspose2d(manifold, out_channels * in_channels, BLOCK)
        self.bias_head = nn.Conv2d(manifold, out_channels, 1)
        self.activation = nn.PReLU()

    def generate(self, table_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights for distinct tables ``(T, 1, 8, 8)``: ``(T, Cout, Cin, 8, 8)`` (transposed:
        ``(T, Cin, Cout, 8, 8)``) and bias ``(T, Cout)``, in the parameters' dtype even under autocast.

        The hypernetwork's work is tiny next to the convolution it feeds, so float32 costs little;
        in bf16 on CPUs with AMX, oneDNN's transposed-convolution backward used to kill the process
        (integer division by zero) for some table counts (torch 2.13, M = 32 and Cout * Cin = 2048
        at T = 12; ``tests/test_cfm.py`` keeps the case)."""
        with torch.autocast(table_values.device.type, enabled=False):
            return self._generate(table_values.to(self.weight_head.weight.dtype))

    def _generate(self, table_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.manifold(table_values).flatten(1)  # (T, M)
        t = h.shape[0]
        # the head is a transposed convolution of a 1x1 input, i.e. one matrix product: as a
        # product it trains several times faster on CPUs than as oneDNN's transposed convolution
        head = self.weight_head
        weight = torch.addmm(head.bias.repeat_interleave(BLOCK * BLOCK), h, head.weight.flatten(1))
        first, second = ((self.in_channels, self.out_channels) if self.transposed
                         else (self.out_channels, self.in_channels))
        weight = weight.reshape(t, first, second, BLOCK, BLOCK)
        return weight, F.linear(h, self.bias_head.weight.flatten(1), self.bias_head.bias)

    def forward(self, x: torch.Tensor, tables: Tables) -> torch.Tensor:
        if not self.float32 or not torch.is_autocast_enabled(x.device.type):
            return self._convolve(x, tables)
        with torch.autocast(x.device.type, enabled=False):
            return self._convolve(x.float(), tables)

    def _convolve(self, x: torch.Tensor, tables: Tables) -> torch.Tensor:
        weight, bias = self.generate(tables.values)
        op = cfm_conv_transpose if self.transposed else cfm_conv
        return op(x, weight, bias, table_index=tables.index, prelu=self.activation.weight, backend=self.backend)


def _cat_per_group(tensors: list[torch.Tensor], groups: int) -> torch.Tensor:
    """Concatenate channels group by group, so that a ``groups``-grouped convolution still sees,
    in group ``g``, only group ``g`` of every input (frequency stays separate)."""
    if groups == 1:
        return torch.cat(tensors, dim=1)
    n, _, h, w = tensors[0].shape
    parts = [t.reshape(n, groups, -1, h, w) for t in tensors]
    return torch.cat(parts, dim=2).reshape(n, -1, h, w)


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: ``layers`` 3x3 convolutions, each seeing the input and every
    earlier output (growth = width), PReLU after each, scaled residual.

    ``groups > 1`` makes every convolution grouped, with ``width`` features per group (the
    per-frequency form: ``groups=64``). Shape: ``(N, groups * width, h, w)`` -> same.
    """

    def __init__(self, width: int, layers: int, groups: int, residual_scale: float):
        super().__init__()
        self.groups, self.residual_scale = groups, residual_scale
        self.convs = nn.ModuleList(
            nn.Conv2d(groups * width * (i + 1), groups * width, 3, padding=1, groups=groups) for i in range(layers))
        self.activations = nn.ModuleList(nn.PReLU() for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv, act in zip(self.convs, self.activations):
            features.append(act(conv(_cat_per_group(features, self.groups))))
        return x + self.residual_scale * features[-1]


class RRDB(nn.Module):
    """Residual-in-residual dense block: ``dense_blocks`` dense blocks and a scaled residual.

    Shape: ``(N, groups * width, h, w)`` -> same.
    """

    def __init__(self, width: int, *, dense_blocks: int, layers: int, groups: int = 1, residual_scale: float = 0.2):
        super().__init__()
        self.residual_scale = residual_scale
        self.blocks = nn.Sequential(*(DenseBlock(width, layers, groups, residual_scale) for _ in range(dense_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual_scale * self.blocks(x)
