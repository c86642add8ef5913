"""Model configurations: every width, manifold size and block count of QGAC as a named field.

Three named configurations: ``paper`` (the published widths, 259.4M parameters), ``default``
(the project's own: the paper's topology with narrower blocks, 8.1M parameters) and ``large``
(wider and deeper blocks than ``default``, about 4x its compute per pixel). Their sizes and how
``default`` was chosen: ``docs/model.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

__all__ = ["CONFIGS", "LIMITS", "QGACConfig", "get_config"]

#: Upper bounds of the integer fields: twice the paper's widths and up to twice its depths, so that
#: a configuration read from a weights file cannot make the model ask for terabytes. At these
#: bounds the model has 3.0 billion parameters (12 GB in float32; the paper's has 0.26 billion).
LIMITS = {"manifold": 128, "block_channels": 512, "block_scales": 3, "tile_channels": 128, "frequency_channels": 8,
          "fusion_channels": 8, "rrdb_blocks": 2, "dense_blocks": 4, "dense_layers": 8, "color_channels": 64,
          "color_rrdb_blocks": 2}


@dataclass(frozen=True)
class QGACConfig:
    """Widths and depths of a QGAC network (defaults: the paper's model).

    Attributes:
        manifold: hidden width ``M`` of every CFM's hypernetwork.
        block_channels: BlockNet features per block (the RRDB width on the ``H/8 x W/8`` grid).
        tile_channels: channels of the BlockNet outputs and FrequencyNet input/output, as tiled
            ``(H, W)`` planes.
        frequency_channels: features per frequency in FrequencyNet.
        fusion_channels: features per frequency in the fusion's hidden layers.
        rrdb_blocks: RRDBs in each BlockNet and in FrequencyNet.
        block_scales: grids the BlockNet's RRDBs work across: 1 (the paper) runs them on the
            block grid; ``s`` > 1 runs them on a grid ``2^(s-1)`` times coarser with ``2^(s-1)``
            times the width (the same FLOPs per pixel, ``2^(s-1)`` times the reach), reached by
            strided convolutions and left by transposed ones added to each grid's features, a
            U-shape (:class:`~qgac_fast.model.networks.MultiScale`).
        dense_blocks: dense blocks per RRDB.
        dense_layers: convolutions per dense block (growth equals the block's width).
        color_channels: width of each colour-network branch (chroma and luma guide); the
            joined features are twice this.
        color_rrdb_blocks: RRDBs per colour-network stage.
        residual_scale: ESRGAN's residual scaling inside dense blocks and around each RRDB.
        init_scale: Kaiming-normal initialisation scaled by this for every convolution.
        chroma_skip: how the colour network's skip path brings 4:2:0 chroma to the luma grid:
            ``"nearest"`` (the paper: exact nearest-neighbour doubling in the DCT domain) or
            ``"fancy"`` (libjpeg's triangle-filter upsampling, through pixels, so a zero residual
            decodes like libjpeg).
        output_init_scale: the same for the last layer of each residual branch (the fusion's
            output convolution and the colour network's transposed-CFM weight head); 0 starts
            the model as the identity with healthy gradients everywhere else.
    """

    manifold: int = 64
    block_channels: int = 256
    block_scales: int = 1
    tile_channels: int = 64
    frequency_channels: int = 4
    fusion_channels: int = 4
    rrdb_blocks: int = 1
    dense_blocks: int = 3
    dense_layers: int = 5
    color_channels: int = 32
    color_rrdb_blocks: int = 1
    residual_scale: float = 0.2
    init_scale: float = 0.1
    output_init_scale: float = 0.1
    chroma_skip: str = "nearest"

    def __post_init__(self):
        if self.chroma_skip not in ("nearest", "fancy"):
            raise ValueError(f"QGACConfig.chroma_skip must be 'nearest' or 'fancy', got {self.chroma_skip!r}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and (isinstance(value, bool) or not isinstance(value, int)
                                        or not 1 <= value <= LIMITS[field.name]):
                raise ValueError(f"QGACConfig.{field.name} must be an int in 1..{LIMITS[field.name]}, got {value!r}")
            if field.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                          or not math.isfinite(value)
                                          or not (value > 0 or field.name == "output_init_scale" and value == 0)):
                raise ValueError(f"QGACConfig.{field.name} must be a finite positive number, got {value!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "QGACConfig":
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError(f"a QGACConfig is a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown QGACConfig fields {sorted(unknown)} (written by a newer qgac_fast?)")
        return cls(**values)


CONFIGS: dict[str, QGACConfig] = {
    "paper": QGACConfig(),
    # The paper's topology with narrower blocks, a smaller manifold and one dense block per RRDB,
    # the widths chosen by measurement (docs/training.md, "Choosing the architecture"). Plain
    # Kaiming initialisation with zeroed residual outputs starts it at the identity (the paper's
    # 0.1 scale leaves a short run with vanishing gradients), the fancy chroma skip at libjpeg's
    # own decode.
    "default": QGACConfig(manifold=32, block_channels=48, tile_channels=24, frequency_channels=2,
                          fusion_channels=4, dense_blocks=1, dense_layers=4, color_channels=16,
                          init_scale=1.0, output_init_scale=0.0, chroma_skip="fancy"),
    # Wider and deeper blocks than default's, about 4x its compute per pixel; not shipped.
    "large": QGACConfig(manifold=16, block_channels=80, tile_channels=16, frequency_channels=4,
                        fusion_channels=4, dense_blocks=2, dense_layers=4, color_channels=32,
                        init_scale=1.0, output_init_scale=0.0, chroma_skip="fancy"),
}


def get_config(name_or_config: str | QGACConfig) -> QGACConfig:
    """A configuration by name (``"paper"``, ``"default"``, ``"large"``), with optional field overrides after a
    colon (``"default:block_channels=64,manifold=32"``), or passed through.

    Raises:
        ValueError: an unknown name or field, or a value the field does not take.
    """
    if isinstance(name_or_config, QGACConfig):
        return name_or_config
    name, _, overrides = str(name_or_config).partition(":")
    try:
        base = CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model configuration {name!r}; choose from {sorted(CONFIGS)}") from None
    if not overrides:
        return base
    types = {f.name: f.type for f in dataclasses.fields(QGACConfig)}
    changes = {}
    for item in overrides.split(","):
        field, _, value = item.partition("=")
        if field not in types or not value:
            raise ValueError(f"expected FIELD=VALUE overrides of {sorted(types)} after {name!r}:, got {item!r}")
        try:
            changes[field] = {"int": int, "float": float}.get(types[field], str)(value)
        except ValueError:
            raise ValueError(f"QGACConfig.{field} must be {types[field]}, got {value!r}") from None
    return dataclasses.replace(base, **changes)
