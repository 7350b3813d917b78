"""Parameter averaging of partition models (NumPy only).

Each partition trains its own copy of the model for one epoch and reports, for each matrix, the
rows it touched, the change of those rows and how many updates each received. The merged row is
the old row plus the touch-count-weighted mean of the partitions' changes (a row touched by one
partition takes that partition's change unchanged; rows nobody touched stay as they were).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowUpdate:
    """Touched rows of one matrix in one partition.

    Attributes:
        rows: ``(k,) int32`` sorted row ids.
        delta: ``(k, d) float32`` new minus old value of those rows.
        touches: ``(k,) int64`` number of updates each row received (> 0).
    """

    rows: np.ndarray
    delta: np.ndarray
    touches: np.ndarray

    @classmethod
    def from_matrices(cls, before: np.ndarray, after: np.ndarray, touches: np.ndarray) -> "RowUpdate":
        rows = np.flatnonzero(touches).astype(np.int32)
        return cls(rows=rows, delta=after[rows] - before[rows], touches=touches[rows])


def merge_updates(matrix: np.ndarray, updates: list[RowUpdate]) -> np.ndarray:
    """Apply partition updates to ``matrix`` ``(vocab_size, d) float32`` in place and return it.

    ``updates`` must come in a fixed order (by partition index) for bit-identical results.
    """
    if not updates:
        return matrix
    if len(updates) == 1:  # one partition: exact, no rounding through float64
        only = updates[0]
        matrix[only.rows] += only.delta
        return matrix
    weighted = np.zeros(matrix.shape, dtype=np.float64)
    weight = np.zeros(matrix.shape[0], dtype=np.float64)
    for update in updates:
        weighted[update.rows] += update.touches[:, None] * update.delta.astype(np.float64)
        weight[update.rows] += update.touches
    touched = np.flatnonzero(weight)
    matrix[touched] += (weighted[touched] / weight[touched, None]).astype(matrix.dtype)
    return matrix
