"""The QGAC model: configurations, layers, networks, inputs, normalisation statistics, weights."""

from .config import CONFIGS, QGACConfig, get_config
from .inputs import CoefficientPlanes, planes_from_jpeg
from .networks import QGAC, flops_per_megapixel, parameter_count
from .stats import coefficient_statistics
from .weights import SHIPPED, load_model, read_metadata, save_model

__all__ = [
    "CONFIGS",
    "CoefficientPlanes",
    "QGAC",
    "QGACConfig",
    "SHIPPED",
    "coefficient_statistics",
    "flops_per_megapixel",
    "get_config",
    "load_model",
    "parameter_count",
    "planes_from_jpeg",
    "read_metadata",
    "save_model",
]
