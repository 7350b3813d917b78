"""Error types. Exit codes are assigned only by the entry points (``w2v_spark.cli``)."""


class W2VError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    exit_code = 1


class ConfigError(W2VError):
    """Bad command line or configuration value."""

    exit_code = 2


class InputDataError(W2VError):
    """The corpus cannot be used (missing, empty, binary, vocabulary empty after min_count...)."""

    exit_code = 3


class ResourceError(W2VError):
    """The job ran out of memory (a JVM's heap, a Python worker's limit) or lost its JVM: the
    message names the stage and the setting to raise. Retrying with the same settings rarely
    helps, hence a configuration problem's exit code."""

    exit_code = 2


class OutputError(W2VError):
    """The output location cannot be written, or already holds a result."""

    exit_code = 4


class TrainingError(W2VError):
    """Training diverged (NaN/Inf) or failed inside Spark."""

    exit_code = 1


class QualityGateError(W2VError):
    """Evaluation fell below a required threshold (``evaluate --require``)."""

    exit_code = 5
