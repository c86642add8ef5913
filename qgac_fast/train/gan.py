"""The adversarial half of GAN fine-tuning: a patch discriminator and the relativistic average
GAN losses (Jolicoeur-Martineau 2018, as used by ESRGAN and the QGAC paper).

With ``C`` the discriminator's logits and ``E`` a mean over the batch (and the patches), the
relativistic average discriminator judges whether a real image is more realistic than the
average fake one, and the reverse::

    L_D  = BCE(C(real) - E[C(fake)], 1) + BCE(C(fake) - E[C(real)], 0)
    L_G  = BCE(C(real) - E[C(fake)], 0) + BCE(C(fake) - E[C(real)], 1)

(both terms averaged and halved, so each loss is ``log 2`` when the discriminator cannot tell).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["PatchDiscriminator", "discriminator_loss", "generator_loss"]


class PatchDiscriminator(torch.nn.Module):
    """A fully convolutional discriminator on RGB pixels that scores overlapping patches.

    Spectrally normalised convolutions (stable without tuning, no batch statistics that would
    mix real and fake images), LeakyReLU, two stride-2 stages: each logit sees a patch of
    about 22 pixels, so it judges local texture, not the image's content.

    Args:
        channels: width of the first layer (doubled at each stride-2 stage).
    """

    def __init__(self, channels: int = 32):
        super().__init__()
        c = channels
        layers = [(3, c, 3, 1), (c, 2 * c, 4, 2), (2 * c, 4 * c, 4, 2), (4 * c, 4 * c, 3, 1)]
        modules: list[torch.nn.Module] = []
        for cin, cout, kernel, stride in layers:
            modules += [spectral_norm(torch.nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2)),
                        torch.nn.LeakyReLU(0.2)]
        modules.append(spectral_norm(torch.nn.Conv2d(4 * c, 1, 3, padding=1)))
        self.body = torch.nn.Sequential(*modules)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """RGB (or gray, repeated to RGB) ``(N, 3|1, H, W)`` float in [0, 1] -> logits
        ``(N, 1, H / 4, W / 4)`` (float32)."""
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        return self.body(image * 2 - 1).float()


def _relativistic(first: torch.Tensor, second: torch.Tensor, first_is_real: bool) -> torch.Tensor:
    """``BCE(first - E[second], first_is_real) + BCE(second - E[first], not first_is_real)``, halved."""
    a = first - second.mean()
    b = second - first.mean()
    return 0.5 * (F.binary_cross_entropy_with_logits(a, torch.full_like(a, float(first_is_real)))
                  + F.binary_cross_entropy_with_logits(b, torch.full_like(b, float(not first_is_real))))


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average discriminator loss from the logits of real and fake images (any
    shapes); small when real logits exceed the fake ones."""
    return _relativistic(real, fake, True)


def generator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Relativistic average generator loss: the discriminator loss with the labels swapped;
    small when fake logits exceed the real ones. Its gradient flows through both terms."""
    return _relativistic(real, fake, False)
