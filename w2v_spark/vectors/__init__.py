"""What is done with the vectors: the query API (:mod:`.embeddings`), file formats
(:mod:`.word2vec_format`), evaluation (:mod:`.evaluation`), neighbours on Spark
(:mod:`.neighbors`), the HTML report (:mod:`.report`) and publishing (:mod:`.publish`)."""
