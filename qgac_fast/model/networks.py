"""The QGAC networks: BlockNet, FrequencyNet, the fusion, the Y network, the colour network, QGAC.

Everything works in the normalised DCT domain on tiled planes (see :mod:`.layers`): a
coefficient plane ``(N, 1, H, W)`` of dequantized coefficients, normalised per channel and
frequency with the statistics stored in the model (``mean``, ``std``: ``(3, 8, 8)`` for Y, Cb, Cr).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from ..dispatch import check_backend
from ..functional.jpeg import decode_planes
from ..functional.quantization import tile_table
from ..functional.sampling import dct_upsample_nearest, upsample
from ..functional.transform import dct, idct
from .config import QGACConfig, get_config
from .. import torch_internals
from .inputs import CoefficientPlanes
from .layers import CFM, FREQUENCIES, RRDB, Tables, frequencies_to_tiles, make_tables, tiles_to_frequencies

__all__ = ["QGAC", "BlockNet", "ColorNet", "FrequencyNet", "Fusion", "MultiScale", "YNet", "flops_per_megapixel",
           "parameter_count"]


def _rrdbs(width: int, count: int, config: QGACConfig, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(*(RRDB(width, dense_blocks=config.dense_blocks, layers=config.dense_layers, groups=groups,
                                residual_scale=config.residual_scale) for _ in range(count)))


class MultiScale(nn.Module):
    """RRDBs on a coarser grid (``config.block_scales`` = s > 1): s - 1 stride-2 3x3 convolutions,
    each doubling the width (+ PReLU), ``config.rrdb_blocks`` RRDBs there, and s - 1 transposed
    convolutions back, each added to the features of the grid it returns to. With a quarter of
    the positions at twice the width per level, the RRDBs cost the FLOPs per pixel of the same
    RRDBs on the full grid and see 2^(s-1) times as far.

    Shape: ``(N, width, h, w)`` -> same, any ``h``, ``w`` (odd sizes are cropped back).
    """

    def __init__(self, width: int, config: QGACConfig):
        super().__init__()
        widths = [width << level for level in range(config.block_scales)]
        self.down = nn.ModuleList(nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.PReLU())
                                  for a, b in zip(widths, widths[1:]))
        self.core = _rrdbs(widths[-1], config.rrdb_blocks, config)
        self.up = nn.ModuleList(nn.ConvTranspose2d(b, a, 4, stride=2, padding=1) for a, b in zip(widths, widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grids = []
        for down in self.down:
            grids.append(x)
            x = down(x)
        x = self.core(x)
        for up, grid in zip(reversed(self.up), reversed(grids)):
            x = grid + up(x)[..., :grid.shape[-2], :grid.shape[-1]]
        return x


class BlockNet(nn.Module):
    """CFM (tiles -> block features) + PReLU, RRDBs over neighbouring blocks (on the block grid, or
    across coarser grids: :class:`MultiScale`), transposed CFM (block features -> tiles) + PReLU.
    Shape: ``(N, Cin, H, W)`` -> ``(N, Cout, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, config: QGACConfig, *, float32_block: bool = False):
        super().__init__()
        self.block = CFM(in_channels, config.block_channels, config.manifold, float32=float32_block)
        self.enhance = (_rrdbs(config.block_channels, config.rrdb_blocks, config) if config.block_scales == 1
                        else MultiScale(config.block_channels, config))
        self.unblock = CFM(config.block_channels, out_channels, config.manifold, transposed=True)

    def forward(self, x: torch.Tensor, tables: Tables) -> torch.Tensor:
        return self.unblock(self.enhance(self.block(x, tables)), tables)


def _per_frequency(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution over the block grid applied to each of the 64 frequencies separately."""
    return nn.Conv2d(FREQUENCIES * in_channels, FREQUENCIES * out_channels, 3, padding=1, groups=FREQUENCIES)


class FrequencyNet(nn.Module):
    """Per-frequency processing: each frequency's features are convolved over the block grid on
    their own (grouped convolutions), through an RRDB of per-frequency convolutions.
    Shape: tiled ``(N, C, H, W)`` -> ``(N, C, H, W)`` with ``C = tile_channels``."""

    def __init__(self, config: QGACConfig):
        super().__init__()
        c, f = config.tile_channels, config.frequency_channels
        self.net = nn.Sequential(
            _per_frequency(c, f), nn.PReLU(),
            _rrdbs(f, config.rrdb_blocks, config, groups=FREQUENCIES),
            _per_frequency(f, c), nn.PReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return frequencies_to_tiles(self.net(tiles_to_frequencies(x)))


class Fusion(nn.Module):
    """Per-frequency fusion of several tiled feature planes into one coefficient plane:
    ``sum(C_i) -> F -> F -> 1`` per-frequency convolutions with PReLU between.
    Shape: tiled planes ``(N, C_i, H, W)`` -> ``(N, 1, H, W)``."""

    def __init__(self, in_channels: int, config: QGACConfig):
        super().__init__()
        f = config.fusion_channels
        self.net = nn.Sequential(_per_frequency(in_channels, f), nn.PReLU(), _per_frequency(f, f), nn.PReLU(),
                                 _per_frequency(f, 1))

    def forward(self, *planes: torch.Tensor) -> torch.Tensor:
        # concatenating in the frequency layout keeps each frequency's channels together
        n, _, h, w = planes[0].shape
        x = torch.cat([tiles_to_frequencies(p).reshape(n, FREQUENCIES, -1, h // 8, w // 8) for p in planes], dim=2)
        return frequencies_to_tiles(self.net(x.reshape(n, -1, h // 8, w // 8)))


class YNet(nn.Module):
    """The luma network: BlockNet encode, FrequencyNet, BlockNet decode, fusion of the three, and
    the global residual. Shape: normalised Y ``(N, 1, H, W)`` -> restored ``(N, 1, H, W)``."""

    def __init__(self, config: QGACConfig):
        super().__init__()
        c = config.tile_channels
        self.encode = BlockNet(1, c, config)
        self.frequencies = FrequencyNet(config)
        # the CFM that brings the frequency features back to the block grid runs in float32 under
        # autocast: in bf16 it alone cost the default model 0.15 dB (6 training images, q10); with
        # it in float32, bf16 autocast everywhere else is within 0.001 dB of float32 there
        self.decode = BlockNet(c, c, config, float32_block=True)
        self.fusion = Fusion(3 * c, config)

    def forward(self, y: torch.Tensor, tables: Tables) -> torch.Tensor:
        encoded = self.encode(y, tables)
        frequencies = self.frequencies(encoded)
        decoded = self.decode(frequencies, tables)
        return y + self.fusion(decoded, frequencies, encoded)


class ColorNet(nn.Module):
    """The colour network, shared by Cb and Cr, guided by the restored Y.

    Chroma -> CFM (chroma table) + PReLU -> RRDBs on its block grid -> learned 2x upsampling of
    the block features (skipped when the chroma is already on the luma grid); restored Y ->
    CFM (luma table) + PReLU; both joined -> RRDBs -> transposed CFM (chroma table) + PReLU: the
    residual that :class:`QGAC` adds to the chroma's skip path.

    Shape: chroma ``(N, 1, Hc, Wc)`` with ``(Hc, Wc)`` = ``(H/2, W/2)`` or ``(H, W)``, restored Y
    ``(N, 1, H, W)`` -> residual ``(N, 1, H, W)``.
    """

    def __init__(self, config: QGACConfig):
        super().__init__()
        c = config.color_channels
        self.block_chroma = CFM(1, c, config.manifold)
        self.enhance_chroma = _rrdbs(c, config.color_rrdb_blocks, config)
        self.upsample = nn.Sequential(nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), nn.PReLU())
        self.block_luma = CFM(1, c, config.manifold)
        self.enhance = _rrdbs(2 * c, config.color_rrdb_blocks, config)
        self.unblock = CFM(2 * c, 1, config.manifold, transposed=True)

    def forward(self, chroma: torch.Tensor, y: torch.Tensor, chroma_tables: Tables, luma_tables: Tables) -> torch.Tensor:
        doubled = chroma.shape[-2:] != y.shape[-2:]
        if doubled and (2 * chroma.shape[-2], 2 * chroma.shape[-1]) != tuple(y.shape[-2:]):
            raise ValueError(f"chroma {tuple(chroma.shape[-2:])} must be half or equal to luma {tuple(y.shape[-2:])}")
        features = self.enhance_chroma(self.block_chroma(chroma, chroma_tables))
        if doubled:
            features = self.upsample(features)
        guide = self.block_luma(y, luma_tables)
        return self.unblock(self.enhance(torch.cat([features, guide], dim=1)), chroma_tables)


class QGAC(nn.Module):
    """Quantization Guided JPEG Artifact Correction: Y first, then Cb and Cr with the shared colour
    network guided by the restored Y, all in the normalised DCT domain.

    Args:
        config: a :class:`QGACConfig` or a configuration name (``"paper"``, ``"default"``).

    Buffers:
        mean, std: ``(3, 8, 8)`` float32 per-channel (Y, Cb, Cr), per-frequency statistics of
        dequantized coefficients, saved with the weights (set by
        :func:`qgac_fast.model.stats.coefficient_statistics`; identity until then).
    """

    def __init__(self, config: QGACConfig | str = "default"):
        super().__init__()
        self.config = get_config(config)
        self.y_net = YNet(self.config)
        self.color_net = ColorNet(self.config)
        self.register_buffer("mean", torch.zeros(3, 8, 8))
        self.register_buffer("std", torch.ones(3, 8, 8))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal initialisation scaled by ``config.init_scale`` for every convolution
        (the CFM heads included), ``config.output_init_scale`` for the residual branches' last
        layers; zero biases. A model on the meta device (shapes only, as ``load_model`` builds
        it before the weights arrive) is left as it is: there is nothing to initialise."""
        if self.mean.is_meta:
            return
        outputs = self._output_layers()
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight)
                scale = self.config.output_init_scale if module in outputs else self.config.init_scale
                module.weight.data.mul_(scale)
                nn.init.zeros_(module.bias)

    def _output_layers(self) -> set[nn.Module]:
        """The residual branches' last layers (initialised with ``config.output_init_scale``)."""
        unblock = self.color_net.unblock
        return {self.y_net.fusion.net[-1], unblock.weight_head, unblock.bias_head}

    def initial_weight_std(self) -> dict[str, float]:
        """The standard deviation :meth:`reset_parameters` draws each convolution weight with,
        by parameter name (0 for the zero-initialised outputs when ``output_init_scale`` is 0).
        Reads shapes only, so it works on the meta device."""
        outputs = self._output_layers()
        gain = nn.init.calculate_gain("leaky_relu", 0)  # kaiming_normal_'s default
        stds = {}
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = torch_internals.fan_in(module.weight)
                scale = self.config.output_init_scale if module in outputs else self.config.init_scale
                stds[f"{name}.weight"] = scale * gain / fan_in ** 0.5
        return stds

    @property
    def cfm_backend(self) -> str | None:
        """The backend of the CFMs' convolutions (:func:`qgac_fast.ops.cfm_conv`,
        :func:`~qgac_fast.ops.cfm_conv_transpose`), the one public switch for every CFM of the model:

        * ``"auto"`` (the default): the Triton kernel for CUDA tensors when no gradient is needed,
          else the reference (:mod:`qgac_fast.dispatch`); on the CPU, the reference.
        * ``"reference"``: the pure-PyTorch batched matrix products, any device, differentiable.
        * ``"triton"``: the kernel always (a CUDA device, or ``TRITON_INTERPRET=1`` on the CPU;
          forward only: a call that needs a gradient raises ``ValueError``).

        Setting it sets every CFM's, checked once here; whatever runs the model (a
        :class:`~qgac_fast.Corrector`, a :class:`~qgac_fast.inference.CorrectionStep`, the
        trainer) runs it so. Reads None only when CFMs were given different backends one by one
        (``CFM.backend``).

        Raises:
            ValueError: setting any other value.
        """
        backends = {module.backend for module in self.modules() if isinstance(module, CFM)}
        return backends.pop() if len(backends) == 1 else None

    @cfm_backend.setter
    def cfm_backend(self, backend: str) -> None:
        check_backend("cfm_conv", backend, "cfm_backend")
        for module in self.modules():
            if isinstance(module, CFM):
                module.backend = backend

    def normalize(self, coefficients: torch.Tensor, channel: int | slice) -> torch.Tensor:
        """Dequantized coefficients ``(N, C, H, W)`` -> normalised, with the statistics of
        ``channel`` (0: Y, 1: Cb, 2: Cr, or a slice of them, one per plane channel)."""
        mean, std = self.mean[channel], self.std[channel]
        if mean.dim() == 2:
            mean, std = mean.unsqueeze(0), std.unsqueeze(0)
        h, w = coefficients.shape[-2:]
        return (coefficients - tile_table(mean, h, w)) / tile_table(std, h, w)

    def denormalize(self, x: torch.Tensor, channel: int | slice) -> torch.Tensor:
        """Inverse of :meth:`normalize`."""
        mean, std = self.mean[channel], self.std[channel]
        if mean.dim() == 2:
            mean, std = mean.unsqueeze(0), std.unsqueeze(0)
        h, w = x.shape[-2:]
        return x * tile_table(std, h, w) + tile_table(mean, h, w)

    def forward(self, y: torch.Tensor, luma_table: torch.Tensor, chroma: torch.Tensor | None = None,
                chroma_table: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Restore normalised coefficient planes: :meth:`prepare_tables`, then :meth:`networks`.

        Args:
            y: float ``(N, 1, H, W)`` normalised Y coefficients, H and W multiples of 8 (16 when
                the chroma is half size).
            luma_table: ``(N, 8, 8)`` the Y quantization steps (raw values).
            chroma: float ``(N, 2, H/2, W/2)`` (4:2:0) or ``(N, 2, H, W)`` (on the luma grid)
                normalised Cb, Cr coefficients, or None for grayscale.
            chroma_table: ``(N, 8, 8)`` the chroma steps shared by Cb and Cr, or ``(N, 2, 8, 8)``
                one table each; required with ``chroma``.

        Returns:
            ``(y, chroma)``: restored normalised ``(N, 1, H, W)`` Y and ``(N, 2, H, W)`` Cb, Cr on
            the luma grid (None for grayscale).
        """
        luma_tables, chroma_tables = self.prepare_tables(y, luma_table, chroma, chroma_table)
        return self.networks(y, luma_tables, chroma, chroma_tables)

    def prepare_tables(self, y: torch.Tensor, luma_table: torch.Tensor, chroma: torch.Tensor | None = None,
                       chroma_table: torch.Tensor | None = None, *,
                       static: bool = False) -> tuple[Tables, Tables | None]:
        """Check :meth:`forward`'s arguments and turn the tables into the CFMs' :class:`Tables`.

        Returns:
            ``(luma_tables, chroma_tables)``: the Y tables (one index per sample) and the Cb, Cr
            tables of the colour network's ``2N`` planes (all Cb, then all Cr), None for gray.
            ``static``: shapes that depend on ``N`` only (see :func:`make_tables`).
        """
        if y.dim() != 4 or y.shape[1] != 1 or y.shape[-2] % 8 or y.shape[-1] % 8:
            raise ValueError(f"y must be (N, 1, H, W) with H, W multiples of 8, got {tuple(y.shape)}")
        n = y.shape[0]
        luma_tables = make_tables(luma_table, y.dtype, static=static)
        if chroma is None:
            return luma_tables, None
        if chroma_table is None:
            raise ValueError("chroma_table is required with chroma")
        if chroma.dim() != 4 or chroma.shape[:2] != (n, 2):
            raise ValueError(f"chroma must be (N, 2, Hc, Wc) with N = {n}, got {tuple(chroma.shape)}")
        if chroma_table.dim() == 3:
            chroma_table = chroma_table.unsqueeze(1).expand(n, 2, 8, 8)
        if chroma_table.shape != (n, 2, 8, 8):
            raise ValueError(f"chroma_table must be (N, 8, 8) or (N, 2, 8, 8), got {tuple(chroma_table.shape)}")
        return luma_tables, make_tables(chroma_table.transpose(0, 1).reshape(2 * n, 8, 8), y.dtype, static=static)

    def networks(self, y: torch.Tensor, luma_tables: Tables, chroma: torch.Tensor | None = None,
                 chroma_tables: Tables | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The Y and colour networks on checked inputs and prepared tables (:meth:`prepare_tables`);
        arguments and result as :meth:`forward`. This is the part ``torch.compile`` compiles
        (:class:`qgac_fast.Corrector`'s ``compile``): no data-dependent shapes in it."""
        restored_y = self.y_net(y, luma_tables)
        if chroma is None:
            return restored_y, None
        n = y.shape[0]
        # Cb and Cr go through the one colour network as a batch of 2N single-channel planes
        both_luma = Tables(luma_tables.values, luma_tables.index.repeat(2))
        planes = chroma.transpose(0, 1).reshape(2 * n, 1, *chroma.shape[-2:])
        residual = self.color_net(planes, restored_y.repeat(2, 1, 1, 1), chroma_tables, both_luma)
        residual = residual.reshape(2, n, *residual.shape[-2:]).transpose(0, 1)
        return restored_y, residual + self.chroma_skip(chroma, y.shape[-2:])

    def chroma_skip(self, chroma: torch.Tensor, luma_size) -> torch.Tensor:
        """The chroma on the luma grid (``config.chroma_skip``), or as is when already there.

        Works on de-normalised coefficients: both upsamplings mix frequencies. ``"fancy"`` goes
        through pixels (inverse DCT, libjpeg's triangle filter in float, DCT); the filter's
        weights sum to one, so the level shift can be left out."""
        if chroma.shape[-2:] == luma_size:
            return chroma
        coefficients = self.denormalize(chroma, slice(1, 3))
        if self.config.chroma_skip == "nearest":
            doubled = dct_upsample_nearest(coefficients)
        else:
            pixels = idct(coefficients)
            doubled = dct(upsample(pixels, (2, 2), method="fancy"))
        return self.normalize(doubled, slice(1, 3))

    def restore(self, planes: CoefficientPlanes, *, networks: Callable | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalise a batch's dequantized planes and restore them (:meth:`forward`); the result
        is normalised ``(N, 1, H, W)`` Y and ``(N, 2, H, W)`` Cb, Cr (None for gray).

        ``networks`` replaces :meth:`networks`, e.g. ``torch.compile(model.networks)``; it is
        given static tables (:func:`~qgac_fast.model.layers.make_tables`)."""
        y = self.normalize(planes.luma, 0)
        chroma = None if planes.chroma is None else self.normalize(planes.chroma, slice(1, 3))
        if networks is None:  # through the module call, so forward hooks see it as before
            return self(y, planes.luma_table, chroma, planes.chroma_table)
        luma_tables, chroma_tables = self.prepare_tables(y, planes.luma_table, chroma, planes.chroma_table,
                                                         static=True)
        return networks(y, luma_tables, chroma, chroma_tables)

    def to_pixels(self, y: torch.Tensor, chroma: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """Differentiable decode of restored normalised planes to float pixels (training).

        Returns:
            ``(N, 3, height, width)`` RGB (``(N, 1, ...)`` gray) on the 0..255 scale, not clamped.
        """
        luma = self.denormalize(y, 0)
        chroma = None if chroma is None else self.denormalize(chroma, slice(1, 3))
        return decode_planes(luma, chroma, size=size, dtype=y.dtype)


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def flops_per_megapixel(model: QGAC, size: int = 256) -> float:
    """Forward FLOP per megapixel of a 4:2:0 colour image, counted with
    :class:`torch.utils.flop_counter.FlopCounterMode` on a ``size`` x ``size`` input
    (convolutions and matrix products; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    y = torch.randn(1, 1, size, size)
    chroma = torch.randn(1, 2, size // 2, size // 2)
    table = torch.full((1, 8, 8), 16.0)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(y, table, chroma, table)
    return counter.get_total_flops() / (size * size / 1e6)
