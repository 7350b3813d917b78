"""Typed config: defaults (a contract), validation messages that name the key, overrides."""

from pathlib import Path

import pytest

from w2v_spark.config import JobConfig, from_dict, load_config, parse_override
from w2v_spark.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_defaults_are_the_documented_contract():
    config = JobConfig()
    sgns = config.sgns
    assert (sgns.vector_size, sgns.window, sgns.negative, sgns.epochs) == (100, 5, 5, 5)
    assert (sgns.alpha, sgns.min_alpha, sgns.ns_exponent) == (0.025, 0.0001, 0.75)
    assert (config.vocab.min_count, config.vocab.sample) == (5, 1e-3)
    assert config.tokenize.token_pattern == r"[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}\p{M}]+)?"
    assert (config.tokenize.normalization, config.tokenize.lowercase) == ("NFKC", True)


def test_shipped_configs_load_and_default_toml_equals_code_defaults():
    default = load_config(CONF / "default.toml")
    assert default.sgns == JobConfig().sgns
    assert default.vocab == JobConfig().vocab
    assert default.tokenize == JobConfig().tokenize
    assert default.ppmi == JobConfig().ppmi
    assert default.pipeline == JobConfig().pipeline
    demo = load_config(CONF / "demo.toml")
    assert demo.spark.master == "local[2]"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"sgns": {"vector_size": 0}}, "sgns.vector_size: must be ≥ 1, got 0"),
        ({"sgns": {"window": -1}}, "sgns.window: must be ≥ 1, got -1"),
        ({"sgns": {"alpha": 0}}, "sgns.alpha: must be in (0, 1), got 0"),
        ({"sgns": {"alpha": -0.1}}, "sgns.alpha"),
        ({"sgns": {"min_alpha": 0.5}}, "sgns.min_alpha"),
        ({"vocab": {"sample": 1.5}}, "vocab.sample"),
        ({"spark": {"partitions": 0}}, "spark.partitions"),
        ({"sgns": {"epochs": "five"}}, "sgns.epochs: expected int, got str 'five'"),
        ({"sgns": {"epochs": True}}, "sgns.epochs: expected int"),
        ({"output": {"on_existing": "replace"}}, "output.on_existing"),
        ({"sgns": {"windw": 5}}, "config sgns.windw: unknown key (did you mean 'window'?)"),
        ({"sgsn": {}}, "config [sgsn]: unknown section (did you mean 'sgns'?)"),
        ({"ppmi": {"window": 0}}, "ppmi.window: must be in [1, 100], got 0"),
        ({"ppmi": {"weighting": "linear"}}, "ppmi.weighting: must be 'uniform' or 'harmonic'"),
        ({"ppmi": {"cds": 0}}, "ppmi.cds: must be in (0, 1], got 0"),
        ({"ppmi": {"shift": 0.5}}, "ppmi.shift: must be ≥ 1 (1 = no shift), got 0.5"),
        ({"ppmi": {"vector_size": 0}}, "ppmi.vector_size"),
        ({"ppmi": {"eigenvalue_weight": 2}}, "ppmi.eigenvalue_weight"),
        ({"pipeline": {"methods": ["sgns", "ppmi"]}},
         "pipeline.methods: unknown method 'ppmi' (did you mean 'ppmi_svd'?)"),
        ({"pipeline": {"methods": []}}, "pipeline.methods: must name at least one method"),
        ({"sgns": {"model": "glove"}}, "sgns.model: must be 'skipgram' or 'cbow', got 'glove'"),
        ({"sgns": {"partition_mode": "sharded"}},
         "sgns.partition_mode: must be 'auto', 'stratified' or 'averaging', got 'sharded'"),
        ({"sgns": {"loss": "hs"}}, "sgns.loss: must be 'negative_sampling' or 'softmax', got 'hs'"),
        ({"sgns": {"loss": "softmax", "model": "cbow"}}, "sgns.loss: 'softmax' is implemented for"),
        ({"sgns": {"loss": "softmax", "partition_mode": "stratified"}, "spark": {"partitions": 2}},
         "sgns.loss: 'softmax' on several partitions needs sgns.partition_mode = 'averaging'"),
        ({"sgns": {"model": "cbow", "partition_mode": "stratified"}, "spark": {"partitions": 2}},
         "sgns.model: 'cbow' on several partitions needs sgns.partition_mode = 'averaging'"),
        ({"pipeline": {"methods": "sgns"}}, "pipeline.methods: expected list, got str"),
        ({"sgns": {"threads": "many"}}, "sgns.threads: must be 'auto' or a whole number in [1, 256]"),
        ({"sgns": {"threads": True}}, "sgns.threads: must be 'auto' or a whole number"),
        ({"sgns": {"threads": 0}}, "sgns.threads: must be 'auto' or a whole number"),
        ({"sgns": {"threads": 1.5}}, "sgns.threads: expected int | str, got float"),
        ({"sgns": {"threads": 2, "model": "cbow"}}, "sgns.threads: 2 threads train skip-gram with"),
        ({"sgns": {"threads": 2, "kernel": "numpy"}}, "sgns.threads: 2 threads need the numba"),
    ],
)
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        from_dict(raw)
    assert message in str(err.value)


def test_overrides_parse_toml_values_and_bare_strings():
    assert parse_override("sgns.epochs=2") == ("sgns", "epochs", 2)
    assert parse_override("sgns.alpha = 0.05") == ("sgns", "alpha", 0.05)
    assert parse_override("spark.master=local[1]") == ("spark", "master", "local[1]")
    assert parse_override("output.on_existing=overwrite") == ("output", "on_existing", "overwrite")
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("epochs=2")
    config = load_config(CONF / "default.toml", ["sgns.epochs=2", "spark.conf.spark.executor.memory=3g"])
    assert config.sgns.epochs == 2 and config.spark.conf["spark.executor.memory"] == "3g"
    assert config.sgns.window == 5
    both = load_config(None, ['pipeline.methods=["sgns", "ppmi_svd"]', "ppmi.weighting=harmonic"])
    assert both.pipeline.methods == ("sgns", "ppmi_svd") and both.ppmi.weighting == "harmonic"


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sgns\nwindow = 5\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize("model, loss, mode", [
    ("skipgram", "negative_sampling", "stratified"),
    ("cbow", "negative_sampling", "averaging"),
    ("skipgram", "softmax", "averaging"),
])
def test_the_default_partition_mode_is_one_the_model_can_train_with(model, loss, mode):
    config = from_dict({"sgns": {"model": model, "loss": loss}, "spark": {"partitions": 4}})
    assert config.sgns.partition_mode == "auto"
    assert config.sgns.resolved_partition_mode() == mode
    config.sgns.check_partitions(4)  # no error: the mode it resolves to trains this model


@pytest.mark.parametrize(("raw", "task_cpus", "threads"), [
    ({}, 1, 1),
    ({}, 4, 4),  # "auto": the cores Spark gives a task
    ({"threads": 3}, 1, 3),  # an explicit number wins
    ({"model": "cbow"}, 4, 1),  # a CBOW window cannot be split: one thread
    ({"loss": "softmax"}, 4, 1),
    ({"kernel": "numpy"}, 4, 1),
])
def test_threads_per_trainer(raw, task_cpus, threads):
    pytest.importorskip("numba")
    assert from_dict({"sgns": raw}).sgns.resolved_threads(task_cpus) == threads


def test_a_retired_key_still_loads_with_a_warning_that_names_it(caplog):
    with caplog.at_level("WARNING", logger="w2v_spark.config"):
        config = from_dict({"spark": {"training_jit": "c1", "partitions": 3}})
    assert config.spark.partitions == 3
    assert "spark.training_jit: no longer used" in caplog.text
    with pytest.raises(ConfigError, match="spark.training_jitt: unknown key"):
        from_dict({"spark": {"training_jitt": "c1"}})
