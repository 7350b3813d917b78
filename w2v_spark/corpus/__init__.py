"""From raw text to training input: reading files (:mod:`.read`), tokenizing (:mod:`.tokenize`),
the vocabulary with counts and subsampling (:mod:`.vocab`), word ids (:mod:`.encode`), and the
packed corpus the trainers read: its records (:mod:`.packed`, NumPy) and the Spark stage that
builds and caches them (:mod:`.pack`)."""
