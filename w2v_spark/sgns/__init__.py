"""Skip-gram / CBOW with negative sampling: the kernels (:mod:`.kernel`, NumPy reference;
:mod:`.kernel_numba`, compiled), the noise sampler (:mod:`.sampling`), strata of model rows
(:mod:`.strata`), epochs on Spark (:mod:`.epochs`, with the averaging merge of :mod:`.merge`),
the training loop (:mod:`.train`) and its checkpoints (:mod:`.checkpoint`)."""
