"""The callable class that Ray Data's ``Dataset.map_batches`` runs in each actor: one
:class:`~qgac_fast.Corrector` per actor, per-row errors as data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..inference.results import FileResult, reason
from ..options import DEFAULT_PNG_LEVEL
from . import storage

__all__ = ["CorrectBatch", "RECORD_COLUMNS"]

#: Columns a batch of files (the :func:`~qgac_fast.ray.correct_files` pipeline) carries in.
RECORD_COLUMNS = ("index", "input", "input_fs", "input_path", "output", "output_fs", "output_path")
_JPEG_MAGIC = b"\xff\xd8"


class CorrectBatch:
    """Correct the rows of a Ray Data batch (``batch_format="numpy"``) with one model per actor.

    Two kinds of batch:

    * images: a ``bytes`` column of file bytes (as ``ray.data.read_binary_files`` gives). The
      batch comes back without ``bytes`` and with ``image`` (the corrected file's bytes in
      ``format``, carrying the input's EXIF and ICC profile; ``b""`` when the row failed),
      ``error`` (the reason, None when it worked), ``width``, ``height`` (the input's, 0 when not
      read) and ``tiles`` (model windows; 0: not corrected); other columns pass through. Without
      ``blind``, bytes that are not a JPEG file fail (``error``).
    * files (:data:`RECORD_COLUMNS`, made by :func:`~qgac_fast.ray.correct_files`): each input
      is read from its file system, corrected and written atomically to its output; the batch
      comes back as ``index`` and ``record``, the JSON of the
      :class:`~qgac_fast.inference.FileResult` (:meth:`~qgac_fast.inference.FileResult.to_json`).

    A row that cannot be read, decoded (corrupt, truncated, over the pixel limits) or written is
    that row's error; the batch never raises for one file.

    Args:
        model: weights name or ``.safetensors`` path (loaded once, in the actor).
        device: default CUDA when the actor was given a GPU, else the CPU.
        threads: torch threads in the actor (None: torch's default, one per core of the node).
        blind: images batches: also correct decoded images (PNG...), the blind way.
        format, jpeg_quality, subsampling, webp_quality, png_level, apply_orientation: the output encoding,
            as :meth:`qgac_fast.Corrector.correct_files`.
        filesystems: files batches: the pyarrow file systems by the keys in ``input_fs`` and
            ``output_fs`` (key ``""``: local paths).
        **engine: :class:`~qgac_fast.inference.EngineOptions` fields (``precision``,
            ``batch_size``, ``tile``, ``max_pixels``...).

    Raises:
        ValueError: a bad option (on the actor's construction).
    """

    def __init__(self, model: str = "default", *, device: str | None = None, threads: int | None = 1,
                 blind: bool = False, format: str = "png", jpeg_quality: int = 95, subsampling: str | None = None,
                 webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL, apply_orientation: bool = False,
                 filesystems: dict[str, Any] | None = None, **engine):
        import torch

        from ..inference import Corrector
        from ..options import check_output_options

        check_output_options(format, subsampling, webp_quality, png_level)
        if threads:
            torch.set_num_threads(threads)
        self.corrector = Corrector(model, device=device, **engine)
        self.blind = blind
        self.encoding = {"format": format, "jpeg_quality": jpeg_quality, "subsampling": subsampling,
                         "webp_quality": webp_quality, "png_level": png_level, "apply_orientation": apply_orientation}
        self.filesystems = {"": None, **(filesystems or {})}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "bytes" in batch:
            return self.correct_images(batch)
        return self.correct_files(batch)

    def correct_images(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """An images batch (see the class)."""
        from ..inference.encoding import encode_image, jpeg_subsampling

        data = [bytes(row) for row in batch["bytes"]]
        images, errors = [b""] * len(data), [None] * len(data)
        sizes, tiles = [(0, 0)] * len(data), [0] * len(data)
        todo = []
        for i, item in enumerate(data):
            if not self.blind and not item.startswith(_JPEG_MAGIC):
                errors[i] = "not a JPEG file (blind=True also corrects decoded images)"
            else:
                todo.append(i)
        encoding = self.encoding
        for i, result in zip(todo, self.corrector.correct_many(data[i] for i in todo)):
            sizes[i], tiles[i] = result.size or (0, 0), result.tiles
            if result.error is not None:
                errors[i] = result.reason
                continue
            try:
                images[i] = encode_image(
                    result.image, encoding["format"], jpeg_quality=encoding["jpeg_quality"],
                    subsampling=encoding["subsampling"] or jpeg_subsampling(result.subsampling),
                    webp_quality=encoding["webp_quality"], png_level=encoding["png_level"], exif=result.exif, icc_profile=result.icc_profile,
                    apply_orientation=encoding["apply_orientation"])
            except Exception as error:  # noqa: BLE001 - one row's failure is its error
                errors[i] = f"cannot encode {encoding['format']}: {reason(error)}"
        out = {name: column for name, column in batch.items() if name != "bytes"}
        out["image"] = _objects(images)
        out["error"] = _objects(errors)
        out["height"] = np.array([size[0] for size in sizes], dtype=np.int64)
        out["width"] = np.array([size[1] for size in sizes], dtype=np.int64)
        out["tiles"] = np.array(tiles, dtype=np.int64)
        return out

    def correct_files(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A files batch (see the class)."""
        from ..inference.outputs import write_result

        rows = [{name: batch[name][i] for name in RECORD_COLUMNS} for i in range(len(batch["index"]))]
        results: list[FileResult | None] = [None] * len(rows)
        data = {}
        for i, row in enumerate(rows):
            try:
                data[i] = storage.read(self.filesystems[str(row["input_fs"])], str(row["input_path"]))
            except OSError as error:
                results[i] = FileResult(str(row["input"]), str(row["output"]), "failed",
                                        f"cannot read: {reason(error)}")
        todo = list(data)
        for i, result in zip(todo, self.corrector.correct_many(data[i] for i in todo)):
            row = rows[i]
            if result.error is not None:
                results[i] = FileResult(str(row["input"]), str(row["output"]), "failed", result.reason, result.size)
                continue
            filesystem = self.filesystems[str(row["output_fs"])]
            written = write_result(result, str(row["input"]), str(row["output_path"]), store=storage.store(filesystem),
                                   **self.encoding)
            written.output = str(row["output"])
            results[i] = written
        return {"index": np.array([int(row["index"]) for row in rows], dtype=np.int64),
                "record": _objects([json.dumps(result.to_json()) for result in results])}


def _objects(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (numpy would make a 2-D or fixed-width array of some)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array
