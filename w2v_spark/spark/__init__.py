"""Running on Spark: the session and its settings (:mod:`.session`), files and atomic outputs
(:mod:`.files`), memory checks and out-of-memory reports (:mod:`.resources`)."""
