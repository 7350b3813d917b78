"""From raw text to training input: reading files (:mod:`.read`), tokenizing (:mod:`.tokenize`),
the vocabulary with counts and subsampling (:mod:`.vocab`), word ids (:mod:`.encode`) and the
packed records the trainers read (:mod:`.packed`)."""
