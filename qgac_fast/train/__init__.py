"""Training QGAC: on-the-fly JPEG data, the regression loop, its command line."""

from .loop import STAGES, Objective, TrainConfig, train, validate

__all__ = ["STAGES", "Objective", "TrainConfig", "train", "validate"]
