"""Query trained embeddings without Spark: ``Embeddings.load(dir)`` reads the Parquet output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

METHODS = ("sgns", "ppmi_svd")


def unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(norms (n,) float32, vectors / norms (n, d) float32)``. All-zero rows (a PPMI-SVD word
    with no positive entry) keep norm 1, so their cosine with everything is 0."""
    norms = np.linalg.norm(vectors, axis=1)
    norms = np.where(norms > 0, norms, np.float32(1)).astype(np.float32)
    return norms, vectors / norms[:, None]


def find_methods(path: str | Path) -> dict[str, Path]:
    """Method name → embeddings location: each ``DIR/<method>/`` of a run with several methods,
    else ``path`` itself, named by its manifest's ``method`` (``"embeddings"`` if unknown).

    Raises:
        FileNotFoundError: nothing at ``path``.
    """
    root = Path(path)
    nested = {m: root / m for m in METHODS if (root / m / "embeddings").is_dir()}
    if nested:
        return nested
    if not root.exists():
        raise FileNotFoundError(f"no embeddings at {root}")
    manifest = root / "_manifest.json"
    method = json.loads(manifest.read_text()).get("method") if manifest.is_file() else None
    return {method if isinstance(method, str) else "embeddings": root}


class Embeddings:
    """Word vectors in id (descending-count) order, L2-normalised once for cosine queries.

    Rankings and similarities are computed with gensim's arithmetic (same operations, same
    order), so results equal ``gensim.models.KeyedVectors``' on the same vectors.

    Attributes:
        words: vocabulary in id order.
        counts: ``(vocab_size,) int64`` corpus counts.
        vectors: ``(vocab_size, vector_size) float32`` as trained.
        norms: ``(vocab_size,) float32`` their lengths (1 for all-zero rows).
        unit: ``(vocab_size, vector_size) float32`` ``vectors / norms``.
        index: word → id.
    """

    def __init__(self, words: list[str], counts: np.ndarray, vectors: np.ndarray):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.index = {word: i for i, word in enumerate(self.words)}
        self.norms, self.unit = unit_rows(self.vectors)

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        """Read an ``embeddings/`` Parquet directory (or a run directory containing one)."""
        path = Path(path)
        if (path / "embeddings").is_dir():
            path = path / "embeddings"
        elif not path.exists():
            raise FileNotFoundError(f"no embeddings at {path}")
        elif not any(path.glob("*.parquet")):
            methods = sorted(p.name for p in path.iterdir() if (p / "embeddings").is_dir())
            hint = f"; it holds several methods, load one of {[str(path / m) for m in methods]}" if methods else ""
            raise FileNotFoundError(f"{path} is not an embeddings directory{hint}")
        table = pq.read_table(path, columns=["word", "id", "count", "vector"]).sort_by("id")
        vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        return cls(table.column("word").to_pylist(), table.column("count").to_numpy(), vectors)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, words):
        """As gensim's ``KeyedVectors``: ``emb["king"]`` is that word's vector, ``(vector_size,)
        float32``; ``emb[["king", "queen"]]`` stacks them, ``(2, vector_size)``. ``KeyError`` for
        a word not in the vocabulary."""
        if isinstance(words, str):
            return self.get_vector(words)
        return np.stack([self.get_vector(word) for word in words])

    @property
    def key_to_index(self) -> dict[str, int]:
        """gensim's name for :attr:`index`: word → id (row)."""
        return self.index

    @property
    def index_to_key(self) -> list[str]:
        """gensim's name for :attr:`words`: the vocabulary in id order."""
        return self.words

    def _id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"word {word!r} not in vocabulary ({len(self.words)} words)") from None

    def get_vector(self, word: str) -> np.ndarray:
        """The trained vector of ``word``, ``(vector_size,) float32``."""
        return self.vectors[self._id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity (computed as gensim's ``KeyedVectors.similarity``, to the bit)."""
        return float(self.similarity32(a, b))

    def similarity32(self, a: str, b: str) -> np.float32:
        return np.dot(_unitvec(self.get_vector(a)), _unitvec(self.get_vector(b)))

    def _query(self, positive, negative) -> tuple[np.ndarray, list[int]]:
        """The normalised mean of ``+unit(positive) − unit(negative)``, ``(vector_size,) float32``,
        with the arithmetic of gensim's ``get_mean_vector`` so that rankings agree exactly."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive and not negative:
            raise ValueError("needs at least one word")
        ids = [self._id(w) for w in positive + negative]
        mean = np.zeros(self.vectors.shape[1], dtype=np.float32)
        for n, i in enumerate(ids):
            mean += (1.0 if n < len(positive) else -1.0) * self.unit[i]
        return _unitvec(mean.astype(np.float64) / len(ids)).astype(np.float32), ids

    def _scores(self, query: np.ndarray, restrict: int | None) -> np.ndarray:
        """Cosine of ``query`` (unit) with the first ``restrict`` words (all when None): one
        matrix–vector product, ``(n,) float32``."""
        end = len(self.words) if restrict is None else min(restrict, len(self.words))
        return (self.vectors[:end] @ query) / self.norms[:end]

    def most_similar(self, positive=(), negative=(), topn: int = 10,
                     restrict: int | None = None) -> list[tuple[str, float]]:
        """Words closest (cosine) to the normalised mean of the unit vectors of ``positive`` minus
        ``negative`` (3CosAdd); the query words themselves are excluded. ``restrict`` searches only
        the ``restrict`` most frequent words."""
        query, ids = self._query(positive, negative)
        return self._top(self._scores(query, restrict), topn, set(ids))

    def _top(self, scores: np.ndarray, topn: int, exclude: set[int]) -> list[tuple[str, float]]:
        """The ``topn`` best of ``scores`` outside ``exclude``, best first (gensim's partial sort,
        so ties fall the same way)."""
        wanted = min(topn + len(exclude), scores.shape[0])
        negated = -scores
        if wanted >= scores.shape[0]:
            best = np.argsort(negated)[:wanted]
        else:
            best = np.argpartition(negated, wanted)[:wanted]
            best = best.take(np.argsort(negated.take(best)))
        found = [(self.words[i], float(scores[i])) for i in best if i not in exclude]
        return found[:topn]

    def most_similar_cosmul(self, positive=(), negative=(), topn: int = 10,
                            restrict: int | None = None) -> list[tuple[str, float]]:
        """3CosMul (Levy & Goldberg 2014, eq. 4): ``Π cos'(x, p) / (Π cos'(x, n) + 1e-6)`` with
        cosines shifted to ``[0, 1]`` by ``cos' = (1 + cos) / 2``."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = [negative] if isinstance(negative, str) else list(negative)
        if not positive:
            raise ValueError("3CosMul needs at least one positive word")
        pos = [(1 + self._scores(self.unit[self._id(w)], restrict)) / 2 for w in positive]
        neg = [(1 + self._scores(self.unit[self._id(w)], restrict)) / 2 for w in negative]
        scores = np.prod(pos, axis=0) / (np.prod(neg, axis=0) + 1e-6)
        return self._top(scores, topn, {self._id(w) for w in positive + negative})

    def analogy(self, a: str, b: str, c: str, topn: int = 1, method: str = "3cosadd",
                restrict: int | None = None) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to …? (e.g. man : king :: woman : queen).

        ``method`` ``"3cosadd"`` ranks by ``cos(x, b) − cos(x, a) + cos(x, c)`` (the vector offset);
        ``"3cosmul"`` by ``cos'(x, b) · cos'(x, c) / (cos'(x, a) + ε)``, which keeps one large
        similarity from dominating the others.
        """
        if method == "3cosadd":
            return self.most_similar(positive=[b, c], negative=[a], topn=topn, restrict=restrict)
        if method == "3cosmul":
            return self.most_similar_cosmul(positive=[b, c], negative=[a], topn=topn, restrict=restrict)
        raise ValueError(f"method must be '3cosadd' or '3cosmul', got {method!r}")

    def doesnt_match(self, words) -> str:
        """The word furthest from the normalised mean of the others' unit vectors."""
        words = list(words)
        if len(words) < 2:
            raise ValueError("doesnt_match needs at least two words")
        unit = self.unit[[self._id(w) for w in words]]
        centre = _unitvec(unit.mean(axis=0).astype(np.float64)).astype(np.float32)
        return words[int(np.argmin(unit @ centre))]


def _unitvec(vector: np.ndarray) -> np.ndarray:
    """``vector / ‖vector‖`` as gensim's ``matutils.unitvec`` computes it — double-precision BLAS
    ``nrm2`` and ``scal``, then back to the input's dtype — so evaluations match gensim's to the
    bit; zero stays zero."""
    from scipy.linalg.blas import dnrm2, dscal

    length = dnrm2(vector)
    if length <= 0:
        return vector
    return dscal(1.0 / length, vector.astype(np.float64)).astype(vector.dtype)
