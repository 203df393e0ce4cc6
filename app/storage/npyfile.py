"""Arrays written to ``.npy`` files a piece at a time, so that a writer never holds a whole
column whose length grows with the segment (a merge's largest columns and fences).

The pieces go to a ``.rows`` file beside the target, without a header (the row count is known
only at the end); ``close`` writes the header and copies the rows behind it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt


def write_header(out: BinaryIO, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    np.lib.format.write_array_header_1_0(out, {
        "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})


class NpyWriter:
    """An array of rows of ``width`` values (1: a plain vector) written as it grows."""

    def __init__(self, path: Path, dtype: npt.DTypeLike, width: int = 1) -> None:
        self.path = path
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.width = width
        self._rows_path = path.with_suffix(".rows")
        self._rows: BinaryIO = self._rows_path.open("wb")
        self.rows = 0

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values, self.dtype)
        if values.size % self.width:
            raise ValueError(f"rows of {self.width} values expected")
        self._rows.write(values.tobytes())
        self.rows += values.size // self.width

    def close(self) -> None:
        self._rows.close()
        shape = (self.rows,) if self.width == 1 else (self.rows, self.width)
        with self.path.open("wb") as out, self._rows_path.open("rb") as rows:
            write_header(out, self.dtype, shape)
            shutil.copyfileobj(rows, out, 1 << 20)
        self._rows_path.unlink()

    def abort(self) -> None:
        self._rows.close()
