"""Validation during training: the gain of the correction over the JPEG on held-back crops."""

from __future__ import annotations

import torch

from ..codec import read_coefficients
from ..compression import compress
from ..functional.color import rgb_to_ycbcr_libjpeg
from ..functional.jpeg import decode
from ..inference.step import CorrectionStep
from ..metrics import psnr
from ..model import QGAC, planes_from_jpeg

__all__ = ["VALIDATION_LAYOUTS", "VALIDATION_QUALITIES", "validate"]

#: Validation settings: the IJG qualities and layouts every held-back crop is compressed at.
VALIDATION_QUALITIES = (10, 30, 50)
VALIDATION_LAYOUTS = ("4:2:0", "4:4:4", "gray")


@torch.no_grad()
def validate(model: QGAC, crops: list[torch.Tensor], qualities=VALIDATION_QUALITIES,
             layouts=VALIDATION_LAYOUTS) -> dict:
    """PSNR of the JPEG and of the correction over held-back crops, every crop at every quality and
    layout, corrected as :func:`qgac_fast.correct` does (float32, luma clamped to the quantization
    bins, reference decode). Gray compresses and scores the crop's libjpeg luma. Leaves ``model``
    in training mode.

    Args:
        crops: uint8 ``(3, H, W)`` RGB crops (:func:`~qgac_fast.train.data.validation_crops`).

    Returns:
        ``{"jpeg_psnr", "model_psnr", "gain_db"}`` (dB, means over every crop, quality and layout),
        ``"gain_by"``: the mean gain per ``"layout q<quality>"``, and ``"gain_by_crop"``: the mean
        gain of each crop over qualities and layouts, in ``crops``' order (for paired comparisons of
        two models on the same crops).
    """
    step = CorrectionStep(model, precision="float32", decode_backend="reference")
    jpeg_db, model_db, gain_by = [], [], {}
    by_crop = [[] for _ in crops]
    for layout in layouts:
        for quality in qualities:
            gains = []
            for index, crop in enumerate(crops):
                image, options = (rgb_to_ycbcr_libjpeg(crop)[:1], {}) if layout == "gray" else (crop, {"subsampling": layout})
                jc = read_coefficients(compress(image, quality=quality, **options))
                out = step(planes_from_jpeg(jc).to(step.device))[0].cpu()
                jpeg_db.append(psnr(decode(jc), image).item())
                model_db.append(psnr(out, image).item())
                gains.append(model_db[-1] - jpeg_db[-1])
                by_crop[index].append(gains[-1])
            gain_by[f"{layout} q{quality}"] = sum(gains) / len(gains)
    model.train()
    jpeg, corrected = sum(jpeg_db) / len(jpeg_db), sum(model_db) / len(model_db)
    return {"jpeg_psnr": jpeg, "model_psnr": corrected, "gain_db": corrected - jpeg, "gain_by": gain_by,
            "gain_by_crop": [sum(g) / len(g) for g in by_crop]}
