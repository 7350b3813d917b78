"""Count-based branch, stage 2: positive pointwise mutual information.

With ``n(w, c)`` the co-occurrence count, ``n(w) = Σ_c n(w, c)``, ``n(c) = Σ_w n(w, c)`` and the
context distribution smoothed by ``α`` (``cds``), ``P_α(c) = n(c)^α / Σ_c' n(c')^α``::

    PMI(w, c) = log( P(w, c) / (P(w) · P_α(c)) ) − log k
              = log n(w, c) − log n(w) − α log n(c) + log Σ_c' n(c')^α − log k

(the corpus total cancels). PPMI keeps the entries with PMI > 0. Natural logarithms.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

#: Marginals are summed as decimals: exact, so the result does not depend on the order in which
#: Spark merges partial sums (weighted counts are not integers).
_EXACT = "decimal(38,12)"


def marginals(cooccurrence: DataFrame) -> DataFrame:
    """Row and column sums of the co-occurrence matrix.

    Input: ``schemas.COOCCURRENCE``. Output (one row per id that occurs as a word or a context)::

        id             int
        word_total     double   n(w), 0 if the id never occurs as a word
        context_total  double   n(c), 0 if the id never occurs as a context
    """
    exact = F.col("count").cast(_EXACT)
    rows = cooccurrence.groupBy(F.col("word_id").alias("id")).agg(F.sum(exact).alias("word_total"))
    cols = cooccurrence.groupBy(F.col("context_id").alias("id")).agg(F.sum(exact).alias("context_total"))
    return rows.join(cols, "id", "full_outer").select(
        "id",
        F.coalesce(F.col("word_total").cast("double"), F.lit(0.0)).alias("word_total"),
        F.coalesce(F.col("context_total").cast("double"), F.lit(0.0)).alias("context_total"),
    )


def ppmi(cooccurrence: DataFrame, *, cds: float = 0.75, shift: float = 1.0) -> DataFrame:
    """Positive PMI of every co-occurring pair, with context-distribution smoothing ``cds`` (α)
    and the shift ``log shift`` (Levy et al.'s k; 1 = no shift).

    Input: ``schemas.COOCCURRENCE``; the marginals come from this table itself.
    Output schema (``schemas.PPMI``), only entries with PMI > 0, no particular order::

        word_id     int
        context_id  int
        ppmi        double
    """
    totals = marginals(cooccurrence)
    smoothed = F.pow(F.col("context_total"), F.lit(float(cds))).cast(_EXACT)
    normaliser = totals.where(F.col("context_total") > 0).agg(
        F.log(F.sum(smoothed).cast("double")).alias("log_normaliser")
    )
    # F.log of 0 is null, so ids that never occur on one side get a null term and drop out.
    terms = F.broadcast(
        totals.crossJoin(normaliser).select(
            "id",
            (-F.log(F.col("word_total"))).alias("row_term"),
            (F.lit(-float(cds)) * F.log(F.col("context_total")) + F.col("log_normaliser")
             - F.lit(float(np.log(shift)))).alias("column_term"),
        )
    )
    rows = terms.select(F.col("id").alias("word_id"), "row_term")
    cols = terms.select(F.col("id").alias("context_id"), "column_term")
    pmi = F.log(F.col("count")) + F.col("row_term") + F.col("column_term")
    return (
        cooccurrence.join(rows, "word_id")
        .join(cols, "context_id")
        .select("word_id", "context_id", pmi.alias("ppmi"))
        .where(F.col("ppmi") > 0)
    )
