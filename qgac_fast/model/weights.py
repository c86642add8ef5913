"""Model weights on disk: safetensors (never pickle) with a JSON header.

A weights file holds the model's state dict (parameters and the ``mean``/``std`` normalisation
buffers) and string metadata: ``format`` (``"qgac_fast"``), ``config`` (the
:class:`~qgac_fast.model.config.QGACConfig` as JSON), ``training`` (free-form JSON: command,
steps, wall time, hardware) and ``dtype``, the storage type of the parameters: ``"float32"``
(files without it are float32) or ``"bfloat16"`` (half the size: how a GPU session brings a large
model back within its 16 MiB a file; the ``mean``/``std`` buffers stay float32, since the
normalisation divides every coefficient by ``std``). Loading always gives float32 parameters.
Named weights ship inside the package (``qgac_fast/weights``).

``save_model`` also writes ``tensors_sha256``, a checksum of the tensors (:func:`tensors_digest`).

Loading trusts nothing in the file: the configuration is checked against ``QGACConfig``'s limits,
the model is built on the meta device (shapes only, nothing allocated) and every tensor's name,
shape and dtype compared with it before any tensor data is read; then values that no training
produces are refused (:func:`_implausible`: non-finite values, magnitudes above
:data:`MAX_MAGNITUDE`, a randomly initialised convolution whose spread vanished, normalisation
statistics outside what :func:`~qgac_fast.model.stats.coefficient_statistics` gives), and the
checksum is verified. Every such failure is one ``WeightsError`` naming the file and the cause.
A file without a checksum (written elsewhere, or before it existed) loads with a
:class:`~qgac_fast.errors.UncheckedWeightsWarning`; the shipped weights carry one.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .._version import __version__
from ..atomic import write_atomic
from ..devices import resolve_device
from ..errors import UncheckedWeightsWarning, WeightsError
from ..options import WEIGHT_DTYPES
from .config import QGACConfig
from .networks import QGAC
from .stats import MIN_STD

__all__ = ["CHECKSUM_KEY", "MAX_MAGNITUDE", "MIN_SPREAD", "SHIPPED", "STORAGE_DTYPES", "load_model", "read_metadata",
           "save_model", "tensors_digest", "weights_path"]

#: Names of the weights that ship with the package.
SHIPPED = ("default", "default-gan")

_FORMAT = "qgac_fast"
#: Parameter storage types: metadata name -> (torch dtype, safetensors' name of it).
STORAGE_DTYPES = dict(zip(WEIGHT_DTYPES, [(torch.float32, "F32"), (torch.bfloat16, "BF16")], strict=True))
#: Metadata key of the tensors' checksum (:func:`tensors_digest`, hexadecimal).
CHECKSUM_KEY = "tensors_sha256"
#: Largest magnitude a tensor may hold. The shipped weights' largest parameter is 1.19 (8400x
#: below) and their largest statistic 448 (a DC ``std``; ``mean`` reaches 122): coefficient
#: statistics of 8-bit images stay within about 2048 (DCT coefficients of level-shifted samples
#: lie within +-1024, dequantization moves them by at most half a step). Weight decay and gradient
#: clipping keep training far below this; a file scaled by 1e30 is refused here.
MAX_MAGNITUDE = 1e4
#: Smallest standard deviation of a randomly initialised convolution weight, as a fraction of
#: the spread it was initialised with (:meth:`~qgac_fast.model.networks.QGAC.initial_weight_std`):
#: training moves a layer's spread by a small factor (the shipped weights: 0.90x to 5.5x of their
#: initial spread), so a layer at 1e-3 of it (900x below the shipped weights' least) is constant
#: or scaled away (a file whose every tensor has spread 0 or 1e-38), not trained. The
#: normalisation ``std`` must reach :data:`~qgac_fast.model.stats.MIN_STD`, the floor
#: ``coefficient_statistics`` applies (shipped: 0.74 and above); it divides every coefficient.
MIN_SPREAD = 1e-3


def tensors_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hexadecimal) over a state dict as stored: each tensor's name, dtype, shape and raw
    bytes, in name order. The same tensors give the same digest whatever the file layout."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def weights_path(name_or_path: str | os.PathLike) -> Path:
    """The file behind a shipped name (``"default"``) or a path.

    Raises:
        FileNotFoundError: neither a shipped name nor an existing file.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        return Path(str(resources.files("qgac_fast") / "weights" / f"{name_or_path}.safetensors"))
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {str(path)!r}; shipped weights: {', '.join(SHIPPED)}")
    return path


def save_model(model: QGAC, path: str | os.PathLike, training: dict | None = None,
               dtype: torch.dtype = torch.float32) -> None:
    """Write ``model``'s weights and configuration to ``path`` (safetensors), atomically.

    Args:
        model: the model (any device; tensors are copied to the CPU).
        training: JSON-serialisable facts about how the weights were made, stored as metadata.
        dtype: storage type of the parameters, ``torch.float32`` or ``torch.bfloat16`` (2 bytes a
            parameter, rounded to nearest); the ``mean``/``std`` buffers are always float32.

    Raises:
        ValueError: another ``dtype``.
    """
    names = {torch_dtype: name for name, (torch_dtype, _) in STORAGE_DTYPES.items()}
    if dtype not in names:
        raise ValueError(f"weights are stored as torch.float32 or torch.bfloat16, not {dtype}")
    parameters = {name for name, _ in model.named_parameters()}
    state = {k: v.detach().to("cpu", dtype if k in parameters else torch.float32).contiguous()
             for k, v in model.state_dict().items()}
    metadata = {"format": _FORMAT, "qgac_fast_version": __version__, "config": model.config.to_json(),
                "training": json.dumps(training or {}, sort_keys=True), "dtype": names[dtype],
                CHECKSUM_KEY: tensors_digest(state)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written by write_atomic, not safetensors' save_file, which creates its files 0600
    write_atomic(path, save(state, metadata=metadata))


def _bad(path: Path, cause: str) -> WeightsError:
    return WeightsError(f"weights file {str(path)!r}: {cause}")


def _read_header(path: Path) -> tuple[dict, QGACConfig]:
    """The file's metadata (config and training decoded from JSON, ``dtype`` one of
    :data:`STORAGE_DTYPES`) and its checked configuration."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except SafetensorError as error:
        raise _bad(path, f"not a safetensors file ({error})") from None
    if metadata.get("format") != _FORMAT:
        raise _bad(path, f"not a qgac_fast weights file (no format={_FORMAT!r} metadata)")
    try:
        config = json.loads(metadata["config"])
        training = json.loads(metadata.get("training", "{}"))
        checked = QGACConfig.from_json(json.dumps(config))
    except KeyError:
        raise _bad(path, "no config metadata") from None
    except (ValueError, TypeError) as error:  # bad JSON, unknown fields, values outside the limits
        raise _bad(path, f"bad metadata: {error}") from None
    except RecursionError:  # JSON nested deeper than the parser's recursion limit
        raise _bad(path, "bad metadata: JSON nested too deeply") from None
    dtype = metadata.get("dtype", "float32")  # written before bfloat16 storage existed: float32
    if dtype not in STORAGE_DTYPES:
        raise _bad(path, f"bad metadata: dtype {dtype!r} is not one of {sorted(STORAGE_DTYPES)}")
    return {"path": str(path), "qgac_fast_version": metadata.get("qgac_fast_version"), "config": config,
            "training": training, "dtype": dtype, CHECKSUM_KEY: metadata.get(CHECKSUM_KEY)}, checked


def read_metadata(name_or_path: str | os.PathLike) -> dict:
    """The metadata of a weights file: ``path``, ``qgac_fast_version``, ``config`` and
    ``training`` decoded from JSON (the config checked against ``QGACConfig``'s limits),
    ``dtype``, the parameters' storage type (``"float32"`` or ``"bfloat16"``), and
    ``tensors_sha256``, the tensors' checksum (None in a file without one; not verified here).

    Raises:
        FileNotFoundError: neither a shipped name nor an existing file.
        WeightsError: not a qgac_fast weights file, or a bad configuration.
    """
    return _read_header(weights_path(name_or_path))[0]


def _implausible(name: str, tensor: torch.Tensor, initial_std: float | None) -> str | None:
    """Why a float32 ``tensor`` of the state dict cannot come from training, or None.

    ``initial_std``: the spread its initialisation draws it with (convolution weights), else None.
    """
    if not torch.isfinite(tensor).all():
        return "holds NaN or infinite values"
    largest = float(tensor.abs().max()) if tensor.numel() else 0.0
    if largest > MAX_MAGNITUDE:
        return f"holds a value of magnitude {largest:.3g}, above the {MAX_MAGNITUDE:g} no training produces"
    if name == "std" and float(tensor.min()) < MIN_STD:
        return (f"holds a normalisation spread of {float(tensor.min()):.3g}, below the {MIN_STD:g} "
                f"coefficient statistics give")
    if initial_std and tensor.numel() > 1:
        spread = float(tensor.double().std())
        if spread < MIN_SPREAD * initial_std:
            return (f"has a spread of {spread:.3g}, below {MIN_SPREAD:g} of the {initial_std:.3g} it is "
                    f"initialised with: constant or scaled away, not trained")
    return None


def _shape_text(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def load_model(name_or_path: str | os.PathLike = "default", device: torch.device | str | None = None) -> QGAC:
    """Load a QGAC model in eval mode.

    Args:
        name_or_path: a shipped name (``"default"``) or a ``.safetensors`` file written by
            :func:`save_model`.
        device: where to put it; default :func:`~qgac_fast.devices.default_device` (CUDA when
            available, else the CPU).

    Returns:
        :class:`~qgac_fast.model.networks.QGAC` in ``eval()`` mode with gradients disabled, its
        tensors float32 whatever the file's storage type (bfloat16 widens exactly).

    Raises:
        FileNotFoundError: neither a shipped name nor an existing file.
        ValueError: ``device`` cannot be used (:func:`~qgac_fast.devices.resolve_device`).
        WeightsError: the file cannot be used (see the module docstring); the message names the
            file and the cause (and the tensor, for a tensor's values).

    Warns:
        UncheckedWeightsWarning: the file has no checksum, so its tensors could not be verified.
    """
    device = resolve_device(device)  # before reading: a device problem is not blamed on the file
    path = weights_path(name_or_path)
    header, config = _read_header(path)
    with torch.device("meta"):
        model = QGAC(config)
    expected = model.state_dict()
    stored = STORAGE_DTYPES[header["dtype"]][1]
    parameters = {name for name, _ in model.named_parameters()}
    with safe_open(str(path), framework="pt") as f:
        names = set(f.keys())
        missing, unexpected = sorted(set(expected) - names), sorted(names - set(expected))
        if missing or unexpected:
            parts = [f"{label} tensors {', '.join(found[:3])}{' ...' if len(found) > 3 else ''} ({len(found)})"
                     for label, found in (("missing", missing), ("unexpected", unexpected)) if found]
            raise _bad(path, f"{'; '.join(parts)} for its config")
        for name, want in expected.items():
            # the header alone: no tensor data is read before every shape is known to fit
            info = f.get_slice(name)
            shape, dtype = tuple(info.get_shape()), info.get_dtype()
            want_dtype = stored if name in parameters else "F32"
            if shape != tuple(want.shape) or dtype != want_dtype:
                raise _bad(path, f"tensor {name!r} is {dtype} {_shape_text(shape)}; its config needs "
                                 f"{want_dtype} {_shape_text(want.shape)}")
        stored_state = {name: f.get_tensor(name) for name in expected}
    spreads = model.initial_weight_std()
    for name, tensor in stored_state.items():
        cause = _implausible(name, tensor.float(), spreads.get(name))
        if cause:
            raise _bad(path, f"tensor {name!r} {cause}")
    checksum = header[CHECKSUM_KEY]
    if checksum is None:
        warnings.warn(f"weights file {str(path)!r} has no {CHECKSUM_KEY} checksum (not written by qgac_fast's "
                      f"save_model): its tensors are loaded unverified", UncheckedWeightsWarning, stacklevel=2)
    elif tensors_digest(stored_state) != checksum:
        raise _bad(path, f"its tensors do not match their {CHECKSUM_KEY} checksum (a corrupt or edited file)")
    state = {name: tensor.float() for name, tensor in stored_state.items()}  # bfloat16: exact in float32
    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval().to(device)
