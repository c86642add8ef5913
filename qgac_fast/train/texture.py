"""The texture loss of GAN fine-tuning: distances between deep features of a VGG-16.

The paper compares VGG-16 features (layer 5_3 of a network trained for material
classification, MINC) with an L1 distance. No pretrained network can be downloaded here, so the
feature network is pluggable:

* ``weights=None`` (the default): the VGG-16 convolutions with fixed, seeded random weights
  (Kaiming-normal, zero bias), compared through Gram matrices of several layers. Random
  convolutional features are known to capture texture through their second-order statistics;
  ``experiments/texture_loss_choice.py`` measures why this project uses Gram matrices of
  ``relu1_2, relu2_2, relu3_3`` with random weights (``bench/results/texture-loss-choice.md``).
* ``weights=FILE``: a VGG-16 state dict (torchvision's layout, ``features.N.weight`` /
  ``features.N.bias``; other keys such as ``classifier.*`` are ignored) in ``.safetensors`` or a
  ``torch.save`` file (loaded with ``weights_only=True``: never unpickled). A MINC-trained
  Caffe VGG-16 converts by copying its 13 convolution kernels and biases, in order, to
  ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}``; the inputs are RGB normalised with the
  ImageNet mean and standard deviation, as torchvision's models expect.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from .config import LAYERS, TEXTURE_STATISTICS, VGG16_WIDTHS, check_texture_layers

__all__ = ["LAYERS", "VGG16Features", "TextureLoss", "gram"]


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(torch.nn.Module):
    """The convolutional part of VGG-16 up to the deepest requested layer, frozen.

    Args:
        layers: names from :data:`LAYERS` whose activations :meth:`forward` returns.
        weights: a VGG-16 state dict file (see the module docstring), or None for seeded random
            weights.
        seed: seed of the random weights.
    """

    def __init__(self, layers=("relu1_2", "relu2_2", "relu3_3"), weights: str | os.PathLike | None = None,
                 seed: int = 0):
        super().__init__()
        check_texture_layers(layers)
        self.layers = tuple(layers)
        self._taps = {LAYERS[name]: name for name in self.layers}
        last = max(self._taps)
        modules: list[torch.nn.Module] = []
        channels = 3
        for width in VGG16_WIDTHS:
            if len(modules) > last:
                break
            if width == "M":
                modules.append(torch.nn.MaxPool2d(2))
            else:
                modules += [torch.nn.Conv2d(channels, width, 3, padding=1), torch.nn.ReLU()]
                channels = width
        self.features = torch.nn.Sequential(*modules[:last + 1])
        if weights is None:
            generator = torch.Generator().manual_seed(seed)
            for module in self.features:
                if isinstance(module, torch.nn.Conv2d):
                    fan_in = module.in_channels * 9
                    # Kaiming-normal: keeps the activations' scale through the ReLUs
                    module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                    module.bias.data.zero_()
        else:
            self._load(Path(weights))
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no VGG-16 weights file {str(path)!r}")
        state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(
            path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{str(path)!r} does not hold a state dict")
        state = {k.removeprefix("features."): v for k, v in state.items()
                 if not k.startswith("classifier.")}
        wanted = self.features.state_dict()
        missing = [k for k in wanted if k not in state]
        if missing:
            raise ValueError(f"{str(path)!r} is not a VGG-16 state dict: it lacks {', '.join('features.' + k for k in missing[:4])} "
                             f"(expected torchvision's features.N.weight / features.N.bias keys)")
        for key, value in wanted.items():
            if state[key].shape != value.shape:
                raise ValueError(f"{str(path)!r}: features.{key} has shape {tuple(state[key].shape)}, "
                                 f"VGG-16 needs {tuple(value.shape)}")
        self.features.load_state_dict({k: state[k] for k in wanted})

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """RGB (or gray, repeated to RGB) ``(N, 3|1, H, W)`` float in [0, 1] -> ``{layer: (N, C, h, w)}``."""
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        x = (image - self.mean) / self.std
        taps = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self._taps:
                taps[self._taps[index]] = x
        return taps

    def train(self, mode: bool = True):
        # always in eval mode: a fixed feature extractor
        return super().train(False)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``(N, C, C)`` of ``(N, C, H, W)`` features, averaged over the ``H * W`` positions."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (h * w)


class TextureLoss(torch.nn.Module):
    """Mean over layers of an L1 distance between VGG-16 statistics of output and target.

    Args:
        statistic: ``"gram"`` (Gram matrices, the default with random weights) or
            ``"features"`` (the activations themselves: the paper's choice with MINC weights).
        layers, weights, seed: as for :class:`VGG16Features`.
    """

    STATISTICS = TEXTURE_STATISTICS

    def __init__(self, statistic: str = "gram", layers=("relu1_2", "relu2_2", "relu3_3"),
                 weights: str | os.PathLike | None = None, seed: int = 0):
        super().__init__()
        if statistic not in self.STATISTICS:
            raise ValueError(f"statistic must be one of {self.STATISTICS}, got {statistic!r}")
        self.statistic = statistic
        self.network = VGG16Features(layers, weights, seed)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``output``, ``target``: ``(N, 3|1, H, W)`` float in [0, 1] -> a scalar (float32)."""
        with torch.no_grad():
            reference = self.network(target)
        produced = self.network(output)
        distances = []
        for name in self.network.layers:
            a, b = produced[name], reference[name]
            if self.statistic == "gram":
                a, b = gram(a), gram(b)
            distances.append(F.l1_loss(a.float(), b.float()))
        return torch.stack(distances).mean()
