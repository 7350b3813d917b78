"""The count-based branch: windowed co-occurrence (:mod:`.cooccurrence`) → PPMI (:mod:`.ppmi`) →
randomized SVD (:mod:`.svd`), as Spark stages."""
