"""Bad input and bad settings: one-line error, the documented exit code, nothing left behind."""

import gzip
import os
import re
import subprocess
import sys

import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.cli import main

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "topics.txt"
    write_topic_corpus(path, lines=300)
    return str(path)


FAST = ["--set", "sgns.epochs=1", "--set", "vocab.min_count=2", "--set", "sgns.vector_size=8"]


def _fails(args, code, message, capsys, output):
    assert main(args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err[-1]
    assert not os.path.exists(output)
    leftovers = [p for p in os.listdir(os.path.dirname(output)) if p.startswith(".")]
    assert leftovers == []
    return err[-1]


def test_missing_input(tmp_path, capsys):
    out = str(tmp_path / "out")
    _fails(["train", "--input", str(tmp_path / "nope.txt"), "--output", out], 3,
           "does not exist", capsys, out)


def test_empty_corpus(spark, tmp_path, capsys):
    empty = tmp_path / "empty.txt.gz"
    with gzip.open(empty, "wt") as f:
        f.write("\n\n  \n")
    out = str(tmp_path / "out")
    _fails(["train", "--input", str(empty), "--output", out], 3, "contains no tokens", capsys, out)


def test_vocabulary_emptied_by_min_count(spark, corpus, tmp_path, capsys):
    out = str(tmp_path / "out")
    line = _fails(["train", "--input", corpus, "--output", out, "--set", "vocab.min_count=100000"],
                  3, "vocabulary is empty", capsys, out)
    assert "vocab.min_count=100000" in line and "lower vocab.min_count" in line


def test_existing_output_is_kept_unless_overwrite(spark, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous result")
    assert main(["train", "--input", corpus, "--output", str(out), *FAST]) == 4
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "already exists" in err and "output.on_existing=overwrite" in err
    assert (out / "keep.txt").read_text() == "previous result"
    assert main(["train", "--input", corpus, "--output", str(out), *FAST,
                 "--set", "output.on_existing=overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "_SUCCESS").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unwritable_output(spark, corpus, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    out = str(blocker / "out")
    assert main(["train", "--input", corpus, "--output", out, *FAST]) == 4
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: output") and "not writable" in err
    assert blocker.read_text() == "not a directory"


def test_bad_token_pattern_is_a_config_error(spark, corpus, tmp_path, capsys):
    out = str(tmp_path / "out")
    _fails(["train", "--input", corpus, "--output", out, "--set", "tokenize.token_pattern=[a-z"],
           2, "tokenize.token_pattern: not a valid Java regex", capsys, out)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("sgns.vector_size=0", "sgns.vector_size: must be ≥ 1, got 0"),
        ("sgns.window=-2", "sgns.window: must be ≥ 1, got -2"),
        ("sgns.alpha=0", "sgns.alpha: must be in (0, 1)"),
        ("sgns.windw=5", "did you mean 'window'"),
    ],
)
def test_bad_config_values_exit_2_before_spark_starts(corpus, tmp_path, setting, message):
    # A separate interpreter: proves the check happens before any JVM is launched.
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "w2v_spark", "train", "--input", corpus, "--output", str(out),
         "--set", setting],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config ") and message in lines[0]
    assert not out.exists()


def test_usage_error_exits_2(capsys):
    assert main(["train", "--input", "x"]) == 2
    assert "--output" in capsys.readouterr().err


def test_ppmi_without_any_pair(spark, tmp_path, capsys):
    # Every line has one word: a vocabulary, but no two words ever share a window.
    lonely = tmp_path / "lonely.txt"
    lonely.write_text("alpha\nbeta\nalpha\nbeta\n")
    out = str(tmp_path / "out")
    _fails(["ppmi", "--input", str(lonely), "--output", out, "--set", "vocab.min_count=1"], 3,
           "no word pairs within ppmi.window=5", capsys, out)


def test_ppmi_bad_knob_names_the_key(tmp_path, capsys):
    out = str(tmp_path / "out")
    _fails(["ppmi", "--output", out, "--set", "ppmi.weighting=linear"], 2,
           "config ppmi.weighting: must be 'uniform' or 'harmonic', got 'linear'", capsys, out)


def test_binary_input_is_refused(spark, tmp_path, capsys):
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 64 + b"\nsome words here\n")  # every byte value, 64 times
    out = str(tmp_path / "out")
    _fails(["train", "--input", str(binary), "--output", out], 3,
           # 0x0A and 0x0D in every copy split the file into 130 lines, 64 of them with NUL
           "looks binary: 64 of 130 lines contain NUL characters", capsys, out)


def test_invalid_utf8_is_replaced_and_counted(spark, corpus, tmp_path):
    import json

    text = open(corpus, encoding="utf-8").read()
    latin = tmp_path / "latin1.txt"
    # Two lines in Latin-1 (é and ü are invalid UTF-8 there), the rest plain ASCII.
    latin.write_bytes("Café cat dog horse\nüber car bus train\n".encode("latin-1") + text.encode("ascii"))
    out = tmp_path / "out"
    assert main(["train", "--input", str(latin), "--output", str(out), *FAST]) == 0
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["corpus"]["lines_with_invalid_utf8"] == 2
    assert manifest["corpus"]["lines"] == 302


def test_a_50_mb_line_is_refused_before_tokenizing(spark, tmp_path, capsys):
    huge = tmp_path / "one_line.txt"
    with open(huge, "w") as f:
        f.write("alpha beta gamma delta " * 2_300_000)  # 52.9 MB, one line
        f.write("\nshort line\n")
    out = str(tmp_path / "out")
    line = _fails(["train", "--input", str(huge), "--output", out], 3,
                  "has a line of 52,900,000 characters, more than input.max_line_length=4,000,000",
                  capsys, out)
    assert "split it into paragraphs" in line


def test_a_model_too_big_for_the_configured_memory_fails_before_training(spark, corpus, tmp_path, capsys):
    # 31 words × 5M dims: 1.24 GB of model; the session's spark.driver.maxResultSize is 1 GiB.
    # One partition: the model comes back to the driver after every epoch (with more, it stays
    # on the executors, and the executors' memory is what the guard checks).
    out = str(tmp_path / "out")
    line = _fails(["train", "--input", corpus, "--output", out, *FAST, "--set", "sgns.vector_size=5000000",
                   "--set", "spark.partitions=1"],
                  2, "more than spark.driver.maxResultSize = 1.00 GiB", capsys, out)
    assert "31 words × 5000000 dims" in line


def test_divergence_stops_with_the_epoch_and_a_hint(spark, corpus, tmp_path, capsys):
    # A learning rate near 1 on 200 dimensions overflows float32 within the first epoch.
    out = str(tmp_path / "out")
    line = _fails(["train", "--input", corpus, "--output", out, *FAST, "--set", "sgns.alpha=0.99",
                   "--set", "sgns.min_alpha=0.99", "--set", "sgns.vector_size=200",
                   "--set", "vocab.sample=0"], 1, "training diverged in epoch 1", capsys, out)
    assert "lower sgns.alpha (now 0.99)" in line


def test_staged_output_is_validated_before_publishing(spark, tmp_path):
    import numpy as np

    from w2v_spark.errors import OutputError
    from w2v_spark.pipeline import _validate
    from w2v_spark.spark import files as io
    from w2v_spark.vectors.word2vec_format import embeddings_table

    output = io.Output(str(tmp_path / "out"), "fail")
    output.check()
    words = ["a", "b"]
    io.write_table(embeddings_table(words, np.array([2, 1]), np.ones((2, 3), np.float32)),
                   output.path("embeddings"))
    spark.createDataFrame([(0, "a", 2, 1.0), (1, "b", 1, 1.0)], "id int, word string, count bigint, "
                          "keep_probability double").write.parquet(output.path("vocab"))
    manifest = {"vocabulary": {"size": 2}, "outputs": {"embeddings": "embeddings/", "vocab": "vocab/"}}
    _validate(spark, output, manifest)  # consistent: passes
    manifest["vocabulary"]["size"] = 3  # one word short
    with pytest.raises(OutputError, match="staged embeddings/ failed validation \\(2 rows"):
        _validate(spark, output, manifest)
    output.abort()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("local", [True, False], ids=["python-io", "pyarrow-stream"])
def test_file_system_bytes_round_trip(tmp_path, local):
    """Local paths are written in place by Python; other file systems through pyarrow's output
    stream (exercised here on the local disk by turning the shortcut off)."""
    from w2v_spark.spark import files as io

    fs = io.FileSystem(str(tmp_path))
    assert fs.local
    fs.local = local
    payload = bytes(range(256)) * 4096 + "é\n".encode()  # 1 MB, every byte value
    target = f"file://{tmp_path}/a/b/blob.bin"  # parents do not exist yet
    fs.write_bytes(target, iter([payload[:1000], payload[1000:]]))
    assert (tmp_path / "a" / "b" / "blob.bin").read_bytes() == payload
    assert fs.read_bytes(target) == payload
    fs.write_bytes(target, iter([b"short"]))  # replaces
    assert fs.read_bytes(str(tmp_path / "a" / "b" / "blob.bin")) == b"short"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["blob.bin"]  # no .crc
    assert fs.size(str(tmp_path / "a")) == 5 and fs.list_names(f"file:{tmp_path}/a") == ["b"]
    fs.rename(str(tmp_path / "a"), str(tmp_path / "c"))
    fs.delete(f"file://{tmp_path}/c")
    fs.delete(str(tmp_path / "never-there"))  # nothing to delete is not an error
    assert not any(tmp_path.iterdir())


def test_a_jvm_out_of_memory_ends_in_one_line_naming_the_stage_and_the_setting(tmp_path):
    # Its own JVM with a 512 MB heap (Spark's smallest that starts), and a 60 MB line allowed
    # through input.max_line_length: lower-casing and tokenizing it need many times its size,
    # far beyond that heap. Measured: the JVM throws OutOfMemoryError in the input check (which
    # lower-cases lines to look for tokens) and dies ≈ 15 s in; before that check existed, in
    # the vocabulary stage, which tokenizes.
    corpus = tmp_path / "huge.txt.gz"
    with gzip.open(corpus, "wt", compresslevel=1) as f:
        f.write("a short first line\n" + "ab cd " * 10_000_000 + "\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "w2v_spark", "train", "--input", str(corpus), "--output", str(out),
         "--set", "input.max_line_length=100000000",
         "--set", "spark.conf.spark.driver.memory=512m",
         "--set", f"spark.conf.spark.local.dir={tmp_path / 'scratch'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1]
    assert re.search(r"in the (input check|vocabulary) stage", errors[0]), errors[0]
    assert "spark.driver.memory (now 512m" in errors[0]
    assert "internal error" not in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging
