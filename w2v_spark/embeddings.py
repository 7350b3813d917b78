"""Query trained embeddings without Spark: ``Embeddings.load(dir)`` reads the Parquet output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


class Embeddings:
    """Word vectors in id (descending-count) order, L2-normalised once for cosine queries.

    Attributes:
        words: vocabulary in id order.
        counts: ``(vocab_size,) int64`` corpus counts.
        vectors: ``(vocab_size, vector_size) float32`` as trained.
    """

    def __init__(self, words: list[str], counts: np.ndarray, vectors: np.ndarray):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.index = {word: i for i, word in enumerate(self.words)}
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.unit = self.vectors / np.maximum(norms, np.finfo(np.float32).tiny)

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        """Read an ``embeddings/`` Parquet directory (or a run directory containing one)."""
        path = Path(path)
        if (path / "embeddings").is_dir():
            path = path / "embeddings"
        table = pq.read_table(path, columns=["word", "id", "count", "vector"]).sort_by("id")
        vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        return cls(table.column("word").to_pylist(), table.column("count").to_numpy(), vectors)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def _id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"word {word!r} not in vocabulary ({len(self.words)} words)") from None

    def get_vector(self, word: str) -> np.ndarray:
        """The trained vector of ``word``, ``(vector_size,) float32``."""
        return self.vectors[self._id(word)]

    def similarity(self, a: str, b: str) -> float:
        return float(self.unit[self._id(a)] @ self.unit[self._id(b)])

    def most_similar(self, positive=(), negative=(), topn: int = 10) -> list[tuple[str, float]]:
        """Words closest (cosine) to the mean of the unit vectors of ``positive`` minus ``negative``
        (gensim's 3CosAdd); the query words themselves are excluded."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one word")
        ids = [self._id(w) for w in positive + negative]
        query = self.unit[ids[: len(positive)]].sum(0) - self.unit[ids[len(positive):]].sum(0)
        query /= max(np.linalg.norm(query), np.finfo(np.float32).tiny)
        scores = self.unit @ query
        scores[ids] = -np.inf
        top = np.argpartition(-scores, min(topn, len(scores) - 1))[:topn]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
