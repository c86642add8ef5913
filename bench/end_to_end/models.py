"""The models of the end-to-end benchmark, and their forward FLOP count."""

from __future__ import annotations

import contextlib
import time

import torch

from bench.end_to_end.timing import short


def build_model(name: str, device: torch.device):
    """(model, note): shipped ``default`` weights if present, else seeded random weights built on
    the device (``paper``: 259M parameters, ~1 GB in float32)."""
    import dataclasses

    from qgac_fast.model import CONFIGS, QGAC, load_model
    from qgac_fast.model.weights import weights_path

    if name == "default" and weights_path("default").is_file():
        return load_model("default", device=device), "shipped default weights"
    config = CONFIGS[name]
    if config.output_init_scale == 0:  # the default config starts as the identity: give it real work
        config = dataclasses.replace(config, output_init_scale=1.0)
    torch.manual_seed(0)
    with torch.device(device):
        model = QGAC(config)
    model.requires_grad_(False)
    return model.to(device).eval(), f"{name} config, random weights (seed 0), built on {device.type}"


@contextlib.contextmanager
def reference_cfm(model):
    """Every CFM of ``model`` on its reference backend (batched matrix products) inside the block."""
    saved = model.cfm_backend
    model.cfm_backend = "reference"
    try:
        yield
    finally:
        model.cfm_backend = saved


def model_flops(model, device: torch.device, size: int = 256) -> float:
    """Forward FLOP per megapixel (``flops_per_megapixel``, on ``device``, CFMs as convolutions so
    the counter sees them)."""
    from qgac_fast.model import flops_per_megapixel

    with reference_cfm(model), torch.device(device):
        return flops_per_megapixel(model, size)


def describe(name: str, device: torch.device, flops_size: int) -> tuple[torch.nn.Module, dict]:
    """``(model, info)``: :func:`build_model`'s model and its record in the results (``weights``,
    ``params``, ``build_s``, ``flops_per_mp``: None with a ``flops_error`` when counting failed).
    Raises torch.OutOfMemoryError when the model does not fit."""
    start = time.perf_counter()
    model, note = build_model(name, device)
    info = {"weights": note, "params": sum(p.numel() for p in model.parameters()),
            "build_s": time.perf_counter() - start}
    try:
        info["flops_per_mp"] = model_flops(model, device, flops_size)
    except Exception as error:  # noqa: BLE001  (a row's TFLOP/s is then left out, not the row)
        info["flops_per_mp"] = None
        info["flops_error"] = short(error)
    return model, info
