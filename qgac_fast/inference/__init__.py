"""Inference: the correction step and the engine that runs it over many JPEGs.

| module | what it holds |
|---|---|
| ``step`` | :class:`CorrectionStep` (model + precision + compile + clamp + decode), :func:`compile_networks` |
| ``corrector`` | :class:`Corrector` and its :class:`EngineOptions`: the public engine |
| ``pipeline`` | scheduling: read pool, grouping into batches, input order |
| ``runner`` | the work of each stage: reading, whole-image batches, tiles, retries |
| ``tiles`` | receptive field, tile plans, the tiled forward |
| ``memory`` | the activation-memory estimate behind ``tile="auto"`` |
| ``results`` | :class:`CorrectionResult`, :class:`FileResult` |
| ``encoding`` | output formats, encoding an image as a file |
| ``outputs`` | output-path rules, atomic writes, the report's rules |
"""

from .corrector import Corrector, EngineOptions
from .memory import SAFETY_FACTOR, ActivationCost, PeakTracker, activation_bound, probe_planes
from .encoding import encode_image, jpeg_subsampling
from .outputs import FORMATS, refusals
from .results import CorrectionResult, FileResult
from .step import COMPILE_MODES, PRECISIONS, CorrectionStep, compile_networks, resolve_precision
from .tiles import Tile, default_overlap, fit_tiles, plan_tiles, receptive_field

__all__ = [
    "COMPILE_MODES",
    "FORMATS",
    "PRECISIONS",
    "SAFETY_FACTOR",
    "ActivationCost",
    "CorrectionResult",
    "CorrectionStep",
    "Corrector",
    "EngineOptions",
    "FileResult",
    "PeakTracker",
    "Tile",
    "activation_bound",
    "compile_networks",
    "default_overlap",
    "encode_image",
    "fit_tiles",
    "jpeg_subsampling",
    "plan_tiles",
    "probe_planes",
    "receptive_field",
    "refusals",
    "resolve_precision",
]
