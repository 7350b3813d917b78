"""Typed job configuration: TOML → frozen dataclasses, validated once at start.

Hyperparameter names follow gensim 4 (``vector_size``, ``window``, ``min_count``, ``sample``,
``negative``, ``ns_exponent``, ``alpha``, ``min_alpha``, ``epochs``, ``seed``). Every error names
the offending key as ``section.key``.

One module (≈ 430 lines) because the config is one contract: a dataclass per TOML section, each
with its documented defaults and checks, read and validated in one place.
"""

import dataclasses
import difflib
import logging
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from w2v_spark.errors import ConfigError

log = logging.getLogger(__name__)

#: Reference tokenization of the benchmarks (ANCHORS): letters/digits, optional 's-style suffix.
#: Letters, combining marks and digits of every script, an apostrophe inside a word (Java regex).
#: A token starts with a letter or a digit, so a stray mark is not a word of its own.
DEFAULT_TOKEN_PATTERN = r"[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}\p{M}]+)?"

#: The ASCII pattern of the reference tokenization (gensim, MLlib and the benchmarks' documents):
#: ``python -m benchmarks.bench`` sets it, with ``normalization = "none"``, for every system.
REFERENCE_TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?"

NORMALIZATIONS = ("NFKC", "NFC", "none")

#: Keys earlier versions read and this one ignores, with why: a config that sets one still runs,
#: with a warning.
RETIRED_KEYS = {
    "spark.class_archive": "the job no longer keeps a JVM class-data-sharing archive in the user's "
                           "cache; README, \"JVM start-up\", shows how to pass one yourself",
    "spark.training_jit": "the JVM's compilers are left alone now (the C1-only directive gained "
                          "< 5 % and changed the whole JVM of a session it joined)",
    "debug.local_gang": "stratified training keeps the model on the executors on every master; "
                        "the local gang of barrier tasks did not pay (BENCHMARKS.md, session 18)",
    "debug.model_on_executors": "the model stays on the executors whenever training is "
                                "stratified over several partitions",
}


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"config {key}: {message}")


@dataclass(frozen=True)
class SparkConfig:
    """``[spark]``: where to run. ``master`` is ignored under spark-submit (its --master wins).

    (``class_archive`` and ``training_jit`` are no longer keys: see :data:`RETIRED_KEYS`.)"""

    master: str = "local[2]"
    partitions: int = 2
    app_name: str = "w2v_spark"
    conf: dict = field(default_factory=dict)
    #: Spark Connect server (``sc://host:port``; the CLI's ``--remote``, else ``SPARK_REMOTE``):
    #: when set, ``master`` and the static ``[spark.conf]`` settings are the server's.
    remote: str = ""

    def __post_init__(self):
        _require(self.partitions >= 1, "spark.partitions", f"must be ≥ 1, got {self.partitions}")
        _require(not self.remote or self.remote.startswith("sc://"), "spark.remote",
                 f"must be a Spark Connect URL sc://host:port, got {self.remote!r}")
        for key, value in self.conf.items():
            _require(key.startswith("spark."), "spark.conf", f"keys must start with 'spark.', got {key!r}")
            _require(isinstance(value, (str, int, float, bool)), f"spark.conf.{key}", "must be a scalar")


@dataclass(frozen=True)
class InputConfig:
    """``[input]``: how to read ``--input``: text (one document per line, .gz ok) or Parquet.
    ``max_line_length``: longer lines (characters) are refused before tokenizing, which would need
    ~20× their size in executor memory."""

    format: str = "auto"
    column: str = "text"
    max_line_length: int = 4_000_000

    def __post_init__(self):
        _require(
            self.format in ("auto", "text", "parquet"),
            "input.format",
            f"must be 'auto', 'text' or 'parquet', got {self.format!r}",
        )
        _require(self.max_line_length >= 1000, "input.max_line_length", "must be ≥ 1000 characters")


@dataclass(frozen=True)
class TokenizeConfig:
    """``[tokenize]``: Unicode normalization, lowercasing, token regex (Java syntax), minimum
    length, document split."""

    normalization: str = "NFKC"
    lowercase: bool = True
    token_pattern: str = DEFAULT_TOKEN_PATTERN
    min_token_length: int = 1
    max_sentence_length: int = 10000

    def __post_init__(self):
        _require(self.normalization in NORMALIZATIONS, "tokenize.normalization",
                 f"must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}")
        # The pattern is a Java regex; the pipeline compiles it in the JVM before any work.
        _require(bool(self.token_pattern), "tokenize.token_pattern", "must not be empty")
        _require(self.min_token_length >= 1, "tokenize.min_token_length", "must be ≥ 1")
        _require(self.max_sentence_length >= 2, "tokenize.max_sentence_length", "must be ≥ 2")


@dataclass(frozen=True)
class VocabConfig:
    """``[vocab]``: ``min_count``; ``max_vocab_size`` keeps the N most frequent (0 = all);
    ``sample`` is word2vec's subsampling threshold (0 disables)."""

    min_count: int = 5
    max_vocab_size: int = 0
    sample: float = 1e-3

    def __post_init__(self):
        _require(self.min_count >= 1, "vocab.min_count", f"must be ≥ 1, got {self.min_count}")
        _require(self.max_vocab_size >= 0, "vocab.max_vocab_size", "must be ≥ 0 (0 = no limit)")
        _require(0 <= self.sample < 1, "vocab.sample", f"must be in [0, 1), got {self.sample}")


@dataclass(frozen=True)
class SgnsConfig:
    """``[sgns]``: skip-gram with negative sampling."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    ns_exponent: float = 0.75
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    seed: int = 1
    batch_centers: int = 1024
    partition_mode: str = "auto"
    rounds_per_epoch: int = 0
    kernel: str = "auto"
    model: str = "skipgram"
    loss: str = "negative_sampling"
    threads: int | str = "auto"

    def __post_init__(self):
        _require(self.vector_size >= 1, "sgns.vector_size", f"must be ≥ 1, got {self.vector_size}")
        _require(self.window >= 1, "sgns.window", f"must be ≥ 1, got {self.window}")
        _require(self.negative >= 1, "sgns.negative", f"must be ≥ 1, got {self.negative}")
        _require(0 <= self.ns_exponent <= 1, "sgns.ns_exponent", "must be in [0, 1]")
        _require(0 < self.alpha < 1, "sgns.alpha", f"must be in (0, 1), got {self.alpha}")
        _require(
            0 <= self.min_alpha <= self.alpha,
            "sgns.min_alpha",
            f"must be in [0, alpha={self.alpha}], got {self.min_alpha}",
        )
        _require(self.epochs >= 1, "sgns.epochs", f"must be ≥ 1, got {self.epochs}")
        _require(self.seed >= 0, "sgns.seed", f"must be ≥ 0, got {self.seed}")
        _require(1 <= self.batch_centers <= 65536, "sgns.batch_centers", "must be in [1, 65536]")
        _require(
            self.partition_mode in ("auto", "stratified", "averaging"),
            "sgns.partition_mode",
            f"must be 'auto', 'stratified' or 'averaging', got {self.partition_mode!r}",
        )
        _require(0 <= self.rounds_per_epoch <= 64, "sgns.rounds_per_epoch",
                 "must be in [0, 64] (0 = min(4, max(2, partitions)))")
        _require(self.model in ("skipgram", "cbow"), "sgns.model",
                 f"must be 'skipgram' or 'cbow', got {self.model!r}")
        _require(self.loss in ("negative_sampling", "softmax"), "sgns.loss",
                 f"must be 'negative_sampling' or 'softmax', got {self.loss!r}")
        _require(self.loss == "negative_sampling" or self.model == "skipgram", "sgns.loss",
                 "'softmax' is implemented for model = 'skipgram' only")
        _require(
            self.kernel in ("auto", "numpy", "numba"),
            "sgns.kernel",
            f"must be 'auto', 'numpy' or 'numba', got {self.kernel!r}",
        )
        _require(
            self.threads == "auto" or (type(self.threads) is int and 1 <= self.threads <= 256),
            "sgns.threads",
            f"must be 'auto' or a whole number in [1, 256], got {self.threads!r}",
        )
        if self.threads != "auto" and self.threads > 1:
            _require(self.model == "skipgram" and self.loss == "negative_sampling", "sgns.threads",
                     f"{self.threads} threads train skip-gram with negative sampling only (a CBOW "
                     "window or a softmax step cannot be split between threads); use 1 or 'auto'")
            _require(self.kernel != "numpy", "sgns.threads",
                     f"{self.threads} threads need the numba kernel (sgns.kernel = 'numpy' runs "
                     "one thread); use 1 or 'auto'")

    def resolved_threads(self, task_cpus: int) -> int:
        """Threads per training task: the configured number, or for ``"auto"`` the cores Spark
        gives a task (``spark.task.cpus``) where the model can use them (skip-gram, negative
        sampling, numba kernel) and 1 elsewhere. Part of what fixes the bits: the same seed,
        partitions and threads train the same model."""
        if self.threads != "auto":
            if self.threads > 1 and self.resolved_kernel() != "numba":
                raise ConfigError(f"config sgns.threads: {self.threads} threads need the numba "
                                  "kernel: pip install 'w2v_spark[numba]', or use 1 or 'auto'")
            return int(self.threads)
        splittable = (self.model == "skipgram" and self.loss == "negative_sampling"
                      and self.resolved_kernel() == "numba")
        return max(1, task_cpus) if splittable else 1

    def resolved_partition_mode(self) -> str:
        """``partition_mode``, with ``"auto"`` → ``"stratified"`` for skip-gram with negative
        sampling and ``"averaging"`` for CBOW or the full softmax, which stratified blocks cannot
        train (a CBOW window needs all its context words in one task; every softmax step writes
        every output row)."""
        if self.partition_mode != "auto":
            return self.partition_mode
        return "averaging" if self.model == "cbow" or self.loss == "softmax" else "stratified"

    def check_partitions(self, partitions: int) -> None:
        """CBOW and the full softmax cannot train stratified: refuse them on several partitions
        when ``partition_mode = "stratified"`` was asked for."""
        if partitions > 1 and self.resolved_partition_mode() == "stratified":
            _require(self.loss != "softmax", "sgns.loss",
                     "'softmax' on several partitions needs sgns.partition_mode = 'averaging' "
                     "(every step writes every output row, so rows cannot have one owner)")
            _require(self.model != "cbow", "sgns.model",
                     "'cbow' on several partitions needs sgns.partition_mode = 'averaging' (a CBOW "
                     "window needs all its context words in one task; stratified blocks split it)")

    def rounds(self, partitions: int) -> int:
        """Stratified rounds per epoch: the configured number, or ``min(4, max(2, P))`` —
        2 rounds up to 2 partitions, 3 at 3, and 4 from 4 partitions on.

        More rounds re-deal the buckets more often, which keeps quality (bench-en: 8 partitions,
        analogy 9.6 % with 1 round, 12.7 % with 4; 2 partitions, WS353 −0.017 with 1 round,
        −0.008 with 2, three seeds each) but costs ``partitions`` more stages per epoch. At 8 to
        64 partitions, 2 rounds cost 1.1–1.8 analogy points against one partition; 4 rounds
        cost 0.4, 0.5, 0.7 and 0.6 at 8, 16, 32 and 64 (five seeds each, WordSim-353 and
        SimLex-999 within 0.01; BENCHMARKS.md, sessions 16–17).
        Constant from 4 partitions on, so that an epoch's stages (≤ 4 · P + 1) grow linearly
        with the partitions: doubling them from 4 to 8 doubles the stages, not more.
        """
        return self.rounds_per_epoch or min(4, max(2, partitions))

    def resolved_kernel(self) -> str:
        """``auto`` → numba when it is installed, else the NumPy reference kernel (always NumPy
        for the full softmax, which has no compiled kernel)."""
        numpy_only = self.loss == "softmax"
        if self.kernel == "numpy" or (numpy_only and self.kernel == "auto"):
            return "numpy"
        if numpy_only:
            raise ConfigError("config sgns.kernel: 'numba' has no softmax kernel; "
                              "use 'auto' or 'numpy'")
        try:
            import numba  # noqa: F401
        except ImportError:
            if self.kernel == "numba":
                raise ConfigError(
                    "config sgns.kernel: 'numba' needs the optional extra: "
                    "pip install 'w2v_spark[numba]'"
                ) from None
            return "numpy"
        return "numba"


@dataclass(frozen=True)
class PpmiConfig:
    """``[ppmi]``: the count-based branch (co-occurrence → PPMI → SVD), Levy et al. 2015 names."""

    window: int = 5
    weighting: str = "uniform"
    dynamic_window: bool = False
    min_pair_count: float = 0.0
    cds: float = 0.75
    shift: float = 1.0
    vector_size: int = 100
    eigenvalue_weight: float = 0.5
    power_iterations: int = 4
    oversample: int = 60
    seed: int = 1

    def __post_init__(self):
        _require(1 <= self.window <= 100, "ppmi.window", f"must be in [1, 100], got {self.window}")
        _require(self.weighting in ("uniform", "harmonic"), "ppmi.weighting",
                 f"must be 'uniform' or 'harmonic', got {self.weighting!r}")
        _require(self.min_pair_count >= 0, "ppmi.min_pair_count", f"must be ≥ 0, got {self.min_pair_count}")
        _require(0 < self.cds <= 1, "ppmi.cds", f"must be in (0, 1], got {self.cds}")
        _require(self.shift >= 1, "ppmi.shift", f"must be ≥ 1 (1 = no shift), got {self.shift}")
        _require(self.vector_size >= 1, "ppmi.vector_size", f"must be ≥ 1, got {self.vector_size}")
        _require(0 <= self.eigenvalue_weight <= 1, "ppmi.eigenvalue_weight",
                 f"must be in [0, 1], got {self.eigenvalue_weight}")
        _require(0 <= self.power_iterations <= 30, "ppmi.power_iterations", "must be in [0, 30]")
        _require(self.oversample >= 0, "ppmi.oversample", f"must be ≥ 0, got {self.oversample}")
        _require(self.seed >= 0, "ppmi.seed", f"must be ≥ 0, got {self.seed}")


METHODS = ("sgns", "ppmi_svd")


@dataclass(frozen=True)
class PipelineConfig:
    """``[pipeline]``: which embedding methods ``train`` runs over the one shared vocabulary."""

    methods: tuple = ("sgns",)

    def __post_init__(self):
        _require(len(self.methods) >= 1, "pipeline.methods", "must name at least one method")
        for method in self.methods:
            _require(method in METHODS, "pipeline.methods",
                     f"unknown method {method!r}{_did_you_mean(str(method), METHODS)}; choose from {METHODS}")
        _require(len(set(self.methods)) == len(self.methods), "pipeline.methods", "lists a method twice")


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: ``on_existing = "fail" | "overwrite"``; ``word2vec_text`` also writes
    ``vectors.txt`` in word2vec text format; ``checkpoints`` saves the SGNS model after every
    epoch (for ``--resume``), removed after the commit unless ``keep_checkpoints``."""

    on_existing: str = "fail"
    word2vec_text: bool = True
    checkpoints: bool = True
    keep_checkpoints: bool = False

    def __post_init__(self):
        _require(
            self.on_existing in ("fail", "overwrite"),
            "output.on_existing",
            f"must be 'fail' or 'overwrite', got {self.on_existing!r}",
        )


@dataclass(frozen=True)
class DebugConfig:
    """``[debug]``: fault injection for reliability tests. Leave empty in production."""

    fail_task_once: str = ""
    fail_after_epoch: int = 0

    def __post_init__(self):
        if self.fail_task_once:
            epoch, _, partition = self.fail_task_once.partition(":")
            _require(epoch.isdigit() and partition.isdigit() and int(epoch) >= 1,
                     "debug.fail_task_once", f"expected 'epoch:partition' (epoch from 1), got {self.fail_task_once!r}")
        _require(self.fail_after_epoch >= 0, "debug.fail_after_epoch", "must be ≥ 0 (0 = off)")

    def failing_task(self) -> tuple[int, int] | None:
        if not self.fail_task_once:
            return None
        epoch, _, partition = self.fail_task_once.partition(":")
        return int(epoch), int(partition)


@dataclass(frozen=True)
class JobConfig:
    spark: SparkConfig = field(default_factory=SparkConfig)
    input: InputConfig = field(default_factory=InputConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    sgns: SgnsConfig = field(default_factory=SgnsConfig)
    ppmi: PpmiConfig = field(default_factory=PpmiConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)

    def __post_init__(self):
        self.sgns.check_partitions(self.spark.partitions)  # before any Spark work

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_type(key: str, value: Any, expected: Any) -> Any:
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        # TOML arrays arrive as lists; a union (int | str) names its members
        name = "list" if expected is tuple else getattr(expected, "__name__", str(expected))
        raise ConfigError(f"config {key}: expected {name}, got {type(value).__name__} {value!r}")
    return value


def from_dict(raw: dict[str, Any]) -> JobConfig:
    """Build and validate a :class:`JobConfig` from parsed TOML, rejecting unknown names."""
    sections = {f.name: f.type for f in fields(JobConfig)}
    built = {}
    for section, values in raw.items():
        if section not in sections:
            raise ConfigError(f"config [{section}]: unknown section{_did_you_mean(section, sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"config [{section}]: expected a table, got {values!r}")
        cls = sections[section]
        known = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if f"{section}.{key}" in RETIRED_KEYS:
                log.warning("config %s.%s: no longer used (%s); remove the key", section, key,
                            RETIRED_KEYS[f"{section}.{key}"])
                continue
            if key not in known:
                raise ConfigError(f"config {section}.{key}: unknown key{_did_you_mean(key, known)}")
            kwargs[key] = _check_type(f"{section}.{key}", value, known[key])
        built[section] = cls(**kwargs)
    return JobConfig(**built)


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``section.key=value`` (value in TOML syntax; bare words are taken as strings)."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. sgns.epochs=2")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return section, key, parsed


def load_config(path: str | Path | None, overrides: list[str] = ()) -> JobConfig:
    """Read a TOML file (or start from defaults when ``path`` is None) and apply ``--set`` values."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path}: not valid TOML ({err})") from None
    for text in overrides:
        section, key, value = parse_override(text)
        target = raw.setdefault(section, {})
        if "." in key:  # spark.conf.spark.executor.memory=2g
            sub, _, rest = key.partition(".")
            target = target.setdefault(sub, {})
            key = rest
        target[key] = value
    return from_dict(raw)
