"""Count-based branch, stage 1: windowed word–context co-occurrence counts.

Pure Spark SQL: each document's id array is turned into the keys of its token pairs by
higher-order functions (``transform`` over ``slice``), exploded, and counted with one hash
aggregation. Each unordered pair of positions is emitted once, keyed by ``(min id, max id)``, and
expanded into both orientations only after the aggregation, which halves the rows that are
shuffled. Weights are applied after counting per distance in integers, so the sums are exact and
do not depend on the order in which Spark merges partial aggregates (determinism).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

WEIGHTINGS = ("uniform", "harmonic")

#: Largest window: keeps ``vocab_size² · window`` inside a signed 64-bit key.
MAX_WINDOW = 100


def distance_weights(window: int, weighting: str = "uniform", dynamic_window: bool = False) -> list[float]:
    """Weight of a pair at distance ``d = 1 … window`` (index ``d - 1``).

    ``harmonic`` gives ``1 / d``. ``dynamic_window`` multiplies by ``(window − d + 1) / window``:
    the probability that word2vec's window, drawn uniformly from ``1 … window``, reaches distance
    ``d``. Using that expectation instead of a random draw (as Levy et al. 2015 do) keeps the
    counts deterministic.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    weights = []
    for d in range(1, window + 1):
        w = 1.0 / d if weighting == "harmonic" else 1.0
        if dynamic_window:
            w *= (window - d + 1) / window
        weights.append(w)
    return weights


def _pair_keys(ids: str, distance: int, vocab_size: int) -> str:
    """SQL for the ``array<bigint>`` of packed keys of the pairs ``(ids[i], ids[i + distance])``:
    ``(min · V + max) · window-slot``, where the distance goes in the low digits."""
    return (
        f"transform(slice({ids}, 1, greatest(size({ids}) - {distance}, 0)), "
        f"(x, i) -> least(x, {ids}[i + {distance}]) * {vocab_size}L + greatest(x, {ids}[i + {distance}]))"
    )


def cooccurrence(
    encoded: DataFrame,
    *,
    vocab_size: int,
    window: int = 5,
    weighting: str = "uniform",
    dynamic_window: bool = False,
    min_pair_count: float = 0.0,
) -> DataFrame:
    """Count word–context pairs within ``window`` tokens of each other, never across documents.

    The matrix is symmetric: a pair of positions ``(i, j)``, ``0 < |i − j| ≤ window``, adds its
    weight to both ``(ids[i], ids[j])`` and ``(ids[j], ids[i])`` (so a word repeated within the
    window adds twice to its diagonal cell). Pairs whose weighted count is below
    ``min_pair_count`` are dropped.

    Input: ``schemas.ENCODED`` (``doc_id long, ids array<int>``), ids in ``[0, vocab_size)``.
    Output schema (``schemas.COOCCURRENCE``), no particular order::

        word_id     int
        context_id  int
        count       double   weighted count (an integer for uniform weights)
    """
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be in [1, {MAX_WINDOW}], got {window}")
    if vocab_size < 1 or vocab_size * vocab_size * window >= 2**63:
        raise ValueError(f"vocab_size {vocab_size} too large for packed pair keys")
    weights = distance_weights(window, weighting, dynamic_window)
    uniform = all(w == 1.0 for w in weights)

    # Keys of distance d carry d - 1 in their low digits (base `window`), so one explode and one
    # aggregation serve every distance.
    slots = ", ".join(
        f"transform({_pair_keys('ids', d, vocab_size)}, k -> k * {window}L + {d - 1})"
        for d in range(1, window + 1)
    )
    keyed = encoded.select(F.explode(F.expr(f"concat({slots})")).alias("slot_key"))
    pair = F.expr(f"slot_key div {window}")
    if uniform:
        counted = keyed.groupBy(pair.alias("key")).agg(F.count("*").cast("double").alias("count"))
    else:
        # One integer count per distance, weighted afterwards in a fixed order: exact and
        # independent of how partial aggregates are merged.
        distance = F.col("slot_key") % F.lit(window)
        per_distance = [F.count_if(distance == d - 1).alias(f"n{d}") for d in range(1, window + 1)]
        counted = keyed.groupBy(pair.alias("key")).agg(*per_distance)
        weighted: Column = F.lit(0.0)
        for d, w in enumerate(weights, start=1):
            weighted = weighted + F.col(f"n{d}") * F.lit(w)
        counted = counted.select("key", weighted.alias("count"))

    low = F.expr(f"key div {vocab_size}").cast("int")
    high = (F.col("key") % F.lit(vocab_size)).cast("int")
    both = F.when(
        low == high,
        F.array(F.struct(low.alias("word_id"), high.alias("context_id"), (F.col("count") * 2).alias("count"))),
    ).otherwise(
        F.array(
            F.struct(low.alias("word_id"), high.alias("context_id"), F.col("count").alias("count")),
            F.struct(high.alias("word_id"), low.alias("context_id"), F.col("count").alias("count")),
        )
    )
    pairs = counted.select(F.inline(both))
    if min_pair_count > 0:
        pairs = pairs.where(F.col("count") >= F.lit(float(min_pair_count)))
    return pairs
