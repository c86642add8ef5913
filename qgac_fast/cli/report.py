"""What ``qgac-fast correct`` tells: each file's line and count (:func:`tally`, the ``--ray`` run's
too), the progress bar (:class:`Progress`), and the summary on stderr and in the ``--json``
document (:func:`summary`, :func:`summary_line`, :func:`write_report`).
"""

from __future__ import annotations

import json
import os
import sys

from ..allocator import loaded_allocator
from ..errors import RECOVERABLE
from ..jpeg_files import declared_megapixels

__all__ = ["COUNTS", "Progress", "report_path", "summary", "summary_line", "tally", "write_report"]

#: :data:`~qgac_fast.errors.RECOVERABLE` in this command's words.
_RECOVERABLE = " (--no-strict corrects what libjpeg can recover)"

#: The counts a run keeps (:func:`tally`): a result's status, and ``unchanged`` (written unchanged,
#: no JPEG history) and ``earlier_table`` (corrected with a first table ``--table auto`` found).
COUNTS = ("ok", "skipped", "failed", "not_done", "unchanged", "earlier_table")


def tally(result, counts: dict) -> str | None:
    """Count one file's result in ``counts`` (:data:`COUNTS`), and put a strict read's way out in
    this command's words (``--no-strict``) in its error, for stderr and the report alike. Returns
    the line to print for it on stderr, or None (corrected, skipped, not done: the caller says why
    a run stopped once)."""
    counts[result.status] += 1
    if result.error:
        result.error = result.error.replace(RECOVERABLE, _RECOVERABLE)
    if result.status == "ok" and result.estimate is not None and not result.estimate["found"]:
        counts["unchanged"] += 1
        return f"{result.input}: {result.estimate['reason']}; written unchanged"
    if result.status == "ok":
        counts["earlier_table"] += (result.table or {}).get("used") == "primary"
    elif result.status == "failed":
        return f"{result.input}: {result.error}"
    return None


class Progress:
    """The progress bar on stderr, shown where ``show``: megapixels as the model finishes them
    (:meth:`corrected`, the engine's ``progress`` callback), so that a large image's tiles move it,
    out of the total the ``pairs``' headers declare (a file the model does not run on, skipped or
    failed, counts when its result comes: :meth:`finished`); the files done and the output being
    written (:meth:`files`, the engine's ``writing`` callback) in its postfix."""

    def __init__(self, pairs: list[tuple[str, str]], *, show: bool, desc: str):
        from tqdm import tqdm

        self.declared = {path: declared_megapixels(path) for path, _ in pairs} if show else {}
        self.total, self.done = len(pairs), 0
        self.bar = tqdm(unit="MP", total=sum(self.declared.values()), disable=not show, dynamic_ncols=True,
                        desc=desc, file=sys.stderr, postfix=f"0/{self.total} files",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MP [{elapsed}<{remaining}, "
                                   "{rate_fmt}{postfix}]")

    def corrected(self, megapixels: float) -> None:
        self.bar.update(megapixels)

    def finished(self, result) -> None:
        """Count a file's result; if the model did not run on it, its share of the total is done."""
        self.done += 1
        if result.tiles == 0:
            self.bar.update(self.declared.get(result.input, 0.0))

    def files(self, writing: str | None = None) -> None:
        done = f"{self.done}/{self.total} files"
        self.bar.set_postfix_str(done if writing is None else f"{done}, writing {os.path.basename(writing)}")

    def write(self, line: str) -> None:
        """Print ``line`` on stderr above the bar."""
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def summary(args, counts: dict, megapixels: float, seconds: float, *, rank: int, world: int, device: str,
            precision: str, threads: int, interrupted: str | None) -> dict:
    """The run's summary as the ``--json`` document holds it: the counts, the megapixels corrected
    in ``seconds`` and their rate, where and how it ran (``malloc``: the preloaded allocator's path,
    or ``"system"``: :mod:`qgac_fast.allocator`), and the signal that stopped it (or None)."""
    return {"corrected": counts["ok"] - counts["unchanged"], "unchanged": counts["unchanged"],
            "earlier_table": counts["earlier_table"], "skipped": counts["skipped"], "failed": counts["failed"],
            "not_done": counts["not_done"], "megapixels": round(megapixels, 6), "seconds": round(seconds, 3),
            "megapixels_per_second": round(megapixels / seconds, 3) if seconds > 0 else None,
            "rank": rank, "world_size": world, "device": device, "precision": precision, "flips": args.flips,
            "threads": threads,
            "malloc": loaded_allocator() or "system", "model": str(args.model), "format": args.format, "interrupted": interrupted}


def summary_line(args, summary: dict, megapixels: float, seconds: float) -> str:
    """The one line ``correct`` ends with on stderr (without ``--quiet``), of ``summary`` and the
    unrounded ``megapixels`` and ``seconds``."""
    where = f"rank {summary['rank']}/{summary['world_size']}: " if summary["world_size"] > 1 else ""
    threads = summary["threads"]
    return (f"{where}{summary['corrected']} corrected ({megapixels:.1f} MP in {seconds:.1f} s, "
            f"{summary['megapixels_per_second'] or 0:.2f} MP/s), {summary['skipped']} skipped, "
            f"{summary['failed']} failed" + (f", {summary['not_done']} not done" if summary["not_done"] else "") +
            (f", {summary['unchanged']} unchanged (no JPEG history)" if summary["unchanged"] else "") +
            (f"; {summary['earlier_table']} corrected with an earlier table found by --table {args.table}"
             if summary["earlier_table"] else "") +
            f" -> {args.output} ({summary['device']}, {summary['precision']}, "
            f"{threads} thread{'s' if threads > 1 else ''})")


def report_path(path: str, rank: int, world: int) -> str:
    """The ``--json`` file of ``rank``: ``path``, or with ``.rankR`` before its suffix under torchrun."""
    if world == 1:
        return path
    stem, suffix = os.path.splitext(path)
    return f"{stem}.rank{rank}{suffix}"


def write_report(path: str, summary: dict, records: list[dict]) -> None:
    """Write the ``--json`` document atomically; raises ``OSError``."""
    from ..atomic import write_atomic

    write_atomic(path, (json.dumps({"summary": summary, "files": records}, indent=2) + "\n").encode())
