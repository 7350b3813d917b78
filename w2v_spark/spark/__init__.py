"""Running on Spark: the session and its settings (:mod:`.session`), what the job asks of a
classic or a Spark Connect session alike (:mod:`.context`), files and atomic outputs
(:mod:`.files`), memory checks and out-of-memory reports (:mod:`.resources`)."""
