"""Rank 0's account of a run: the lines of ``OUT/log.jsonl`` and a progress bar per stage."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

__all__ = ["LOG_NAME", "RunLog"]

#: The log's file name in the run folder.
LOG_NAME = "log.jsonl"


class RunLog:
    """``log.jsonl`` (one JSON object a line, appended to across resumed pieces) and the progress
    bar on stderr.

    Lines: every ``log_every`` steps ``{"stage", "step", "loss", <the loss's parts>, "grad_norm",
    "lr", "mp_per_s", "elapsed_s", "training_mp"}`` (``mp_per_s``: training megapixels per second
    since the previous such line), and at each validation ``{"stage", "step", "training_mp",
    "validation"[, "validation_ema"]}`` (:func:`~qgac_fast.train.validation.validate`'s results).

    Args:
        path: the log file.
        elapsed: the run's training seconds so far (summed over resumed pieces).
        log_every: steps between step lines.
        bar: show the progress bar (messages are printed either way).
    """

    def __init__(self, path: Path, elapsed: Callable[[], float], log_every: int, bar: bool):
        self.file = open(path, "a")
        self.elapsed, self.log_every, self.show_bar = elapsed, log_every, bar
        self.stage, self.bar, self.window_start, self.window_pixels = None, None, 0.0, 0

    def start_stage(self, stage: str, steps: int, first: int) -> None:
        """A bar for ``stage``'s ``steps``, ``first`` of them done; the throughput window starts."""
        self.stage = stage
        self.bar = tqdm(total=steps, initial=first, desc=f"train {stage}", unit="step", dynamic_ncols=True,
                        disable=not self.show_bar, file=sys.stderr)
        self.window_start, self.window_pixels = time.perf_counter(), 0

    def step(self, step: int, pixels: int, loss: float, parts: dict, grad_norm: float, lr: float,
             training_mp: float) -> None:
        """Account for optimiser step ``step`` (1-based within the stage) on ``pixels`` training
        pixels (all processes) at learning rate ``lr``, with ``training_mp`` megapixels seen so far."""
        self.window_pixels += pixels
        rate = self.window_pixels / 1e6 / max(1e-9, time.perf_counter() - self.window_start)
        self.bar.set_postfix(loss=f"{loss:.4f}", l1=f"{parts['l1']:.4f}", mp_s=f"{rate:.2f}", lr=f"{lr:.1e}")
        self.bar.update()
        if step % self.log_every == 0:
            self._line({"stage": self.stage, "step": step, "loss": loss, **parts, "grad_norm": grad_norm, "lr": lr,
                        "mp_per_s": rate, "elapsed_s": self.elapsed(), "training_mp": training_mp})
            self.window_start, self.window_pixels = time.perf_counter(), 0

    def validation(self, step: int, training_mp: float, result: dict, averaged: dict[str, dict]) -> None:
        """The validation of the weights (``result``) and of their averages (``{str(decay): result}``)."""
        self.write(f"validation {self.stage} step {step}: JPEG {result['jpeg_psnr']:.2f} dB, "
                   f"model {result['model_psnr']:.2f} dB ({result['gain_db']:+.2f})")
        line = {"stage": self.stage, "step": step, "training_mp": training_mp, "validation": result}
        if averaged:
            line["validation_ema"] = averaged
            self.write("  averaged: " + ", ".join(f"ema {d}: {r['gain_db']:+.3f} dB" for d, r in averaged.items()))
        self._line(line)

    def write(self, message: str) -> None:
        """Print a message above the bar (on stdout, as ``tqdm.write`` does)."""
        self.bar.write(message)

    def end_stage(self) -> None:
        """Close the stage's bar."""
        self.bar.close()

    def close(self) -> None:
        """Close the log file."""
        self.file.close()

    def _line(self, line: dict) -> None:
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()
