"""What a new user meets in the first hour: every writing command on a read-only target, nothing
silent (default corpus, files read, words a command cannot find, interrupted runs), queries read
as training read the corpus, and evaluation's output and requirement checks."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.cli import main

pytestmark = pytest.mark.spark

FAST = ["--set", "sgns.epochs=1", "--set", "vocab.min_count=2", "--set", "sgns.vector_size=8",
]


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory):
    """A finished, evaluated run of the topic corpus (lines in mixed case)."""
    root = tmp_path_factory.mktemp("first-hour")
    corpus = root / "topics.txt"
    write_topic_corpus(corpus, lines=300)
    out = root / "run"
    assert main(["train", "--input", str(corpus), "--output", str(out), *FAST]) == 0
    pairs = root / "pairs.tsv"
    pairs.write_text("cat\tdog\t9\ncat\tcar\t1\nbus\ttruck\t9\nbread\tcake\t8\nsoup\tbike\t1\n")
    assert main(["evaluate", "--embeddings", str(out), "--pairs", str(pairs),
                 "--analogies", str(_questions(root))]) == 0
    return {"corpus": corpus, "run": out, "pairs": pairs, "questions": _questions(root)}


def _questions(root: Path) -> Path:
    path = root / "questions.txt"
    path.write_text(": topics\ncat dog car bus\ncar bus cat dog\n")
    return path


@pytest.fixture
def read_only(tmp_path):
    """``seal(directory)``: make ``directory`` read-only for this test, as a read-only mount
    (root ignores permission bits) or, for other users, by permission bits."""
    sealed = []

    def seal(directory: Path) -> Path:
        if os.geteuid() != 0:
            for path in [directory, *directory.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
            sealed.append(("chmod", directory))
            return directory
        done = subprocess.run(["mount", "--bind", str(directory), str(directory)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
        sealed.append(("mount", directory))
        subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=True)
        return directory

    yield seal
    for how, directory in reversed(sealed):
        if how == "mount":
            subprocess.run(["umount", str(directory)], check=True)
        else:
            for path in [directory, *directory.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


def _fails_in_one_line(args, code, message, capsys):
    assert main(args) == code
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert errors[-1].startswith("error: ") and message in errors[-1], errors[-1]
    assert "Traceback" not in captured.err
    return errors[-1]


def _snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*")}


def test_every_writing_command_refuses_a_read_only_target_in_one_line(run, read_only, tmp_path,
                                                                        capsys):
    # A copy of the finished run inside a read-only directory, as on a read-only share.
    shared = tmp_path / "shared"
    shutil.copytree(run["run"], shared / "run")
    export = tmp_path / "vectors.txt"
    assert main(["export", "--embeddings", str(run["run"]), "--output", str(export)]) == 0
    read_only(shared)
    before = _snapshot(shared)
    sealed_run = str(shared / "run")
    cases = [
        ["train", "--input", str(run["corpus"]), "--output", str(shared / "new"), *FAST],
        ["ppmi", "--input", str(run["corpus"]), "--output", str(shared / "new"), *FAST],
        ["neighbors", "--embeddings", sealed_run, "--output", str(shared / "nn")],
        ["evaluate", "--embeddings", sealed_run, "--pairs", str(run["pairs"])],
        ["report", "--run", sealed_run],
        ["export", "--embeddings", sealed_run, "--output", str(shared / "vectors.bin")],
        ["import", "--input", str(export), "--output", str(shared / "imported")],
        ["publish", "--run", sealed_run, "--pointer", str(shared / "LATEST.json")],
    ]
    for args in cases:
        started = time.monotonic()
        line = _fails_in_one_line(args, 4, "", capsys)
        assert "writable" in line or "Read-only" in line, (args[0], line)
        # Checked before a JVM starts or any work is done (measured: < 1 s each).
        assert time.monotonic() - started < 10, args[0]
        assert _snapshot(shared) == before, args[0]  # nothing written, nothing partial
    # evaluate can still score a run it may not write into, or write elsewhere.
    assert main(["evaluate", "--embeddings", sealed_run, "--pairs", str(run["pairs"]),
                 "--no-write"]) == 0
    assert "pairs" in capsys.readouterr().out
    elsewhere = tmp_path / "evaluation.json"
    assert main(["evaluate", "--embeddings", sealed_run, "--pairs", str(run["pairs"]),
                 "--output", str(elsewhere)]) == 0
    assert set(json.loads(elsewhere.read_text())) == {"sgns"}


def test_evaluate_prints_its_table_and_checks_requirement_names_first(run, capsys):
    base = ["evaluate", "--embeddings", str(run["run"]), "--pairs", str(run["pairs"]),
            "--analogies", str(run["questions"]), "--no-write"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "pairs" in out and "questions" in out  # the summary table, on stdout
    for requirement, message in [
        ("wordsim353.spearman>=0.3", "no benchmark 'wordsim353' in the suite (pairs, questions)"),
        ("pairs.accuracy>=0.3", "pairs has no 'accuracy'"),
        ("cbow/pairs.spearman>=0.3", "no method 'cbow' to evaluate (sgns)"),
    ]:
        line = _fails_in_one_line([*base, "--require", requirement], 2, message, capsys)
        assert line.startswith("error: requirement")
        assert capsys.readouterr().out == ""  # refused before anything was evaluated


def test_similar_reads_its_query_as_training_read_the_corpus(run, capsys):
    # The corpus capitalises the first word of every line; training lower-cased it.
    assert main(["similar", "--embeddings", str(run["run"]), "Cat", "DOG", "zebra"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("cat: ") and printed[1].startswith("dog: ")
    assert printed[2] == "zebra: not in the vocabulary"


def test_report_replaces_its_directory_and_names_words_it_cannot_show(run, caplog):
    target = run["run"] / "report"
    target.mkdir(exist_ok=True)
    (target / "map_old_method.png").write_bytes(b"stale")
    assert main(["report", "--run", str(run["run"]), "--words", "cat,zebra",
                 "--group", "fruit=mango,quince", "--group", "animals=cat,dog,horse,yak"]) == 0
    assert not (target / "map_old_method.png").exists()  # the whole directory is new
    assert (target / "index.html").is_file()
    assert not [p for p in run["run"].iterdir() if p.name.startswith(".report")]
    text = caplog.text
    assert "not in the vocabulary, no neighbours listed: zebra" in text
    assert "group 'fruit' has no word in the vocabulary (mango, quince)" in text
    assert "group 'animals': not in the vocabulary: yak" in text


def test_the_log_says_which_corpus_and_files_were_read(run, spark, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="w2v_spark")
    # No --input: the packaged demo corpus, said before anything else (the existing output
    # stops the run before a JVM starts).
    existing = tmp_path / "exists"
    existing.mkdir()
    assert main(["train", "--output", str(existing)]) == 4
    assert "no --input: using the packaged demo corpus" in caplog.text
    # A directory with a subdirectory: every file is read, and the log says how many.
    corpus = tmp_path / "corpus"
    (corpus / "2026" / "12").mkdir(parents=True)
    write_topic_corpus(corpus / "a.txt", lines=150, seed=1)
    write_topic_corpus(corpus / "2026" / "12" / "b.txt", lines=150, seed=2)
    caplog.clear()
    out = tmp_path / "out"
    assert main(["train", "--input", str(corpus), "--output", str(out), *FAST]) == 0
    size = sum(p.stat().st_size for p in corpus.rglob("*.txt"))
    assert f"input: 2 file(s), {size / 1e6:.1f} MB, 1 of them in subdirectories" in caplog.text
    assert json.loads((out / "_manifest.json").read_text())["corpus"]["lines"] == 300


def test_a_corpus_the_token_pattern_does_not_fit_is_reported(spark, tmp_path, caplog):
    corpus = tmp_path / "mixed.txt"
    lines = ["the cat and the dog"] * 60 + ["Мой сосед продаёт старый чайник"] * 40
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ascii_only = ["--set", "tokenize.token_pattern=\"[a-z]+\""]
    assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "a"), *FAST,
                 *ascii_only]) == 0
    assert ("40 of 100 non-blank lines (40 %) contain no token of tokenize.token_pattern "
            "'[a-z]+' and are dropped, e.g. 'Мой сосед продаёт старый чайник'") in caplog.text
    caplog.clear()
    assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "b"), *FAST]) == 0
    assert "contain no token" not in caplog.text  # the default pattern reads both scripts


def test_an_interrupted_run_says_how_to_resume(run, tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "w2v_spark", "train", "--input", str(run["corpus"]),
         "--output", str(out), "--set", "sgns.epochs=50", *FAST[2:]],
        stderr=subprocess.PIPE, text=True)
    for line in child.stderr:  # interrupted once training has started
        if "epoch 1/50" in line:
            child.send_signal(signal.SIGINT)
            break
    rest = child.stderr.read()
    assert child.wait(timeout=120) == 130
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: interrupted") and "--resume" in last
    assert not out.exists()


def test_a_run_writes_nothing_outside_its_output(tmp_path):
    """With a fresh HOME and an empty working directory, a run (with the defaults: no class
    archive) leaves its output and nothing else: no cache under HOME, no spark-warehouse,
    derby or crash logs in the working directory, no staging or checkpoint directory beside
    the output."""
    home, work, results = tmp_path / "home", tmp_path / "work", tmp_path / "results"
    for directory in (home, work, results):
        directory.mkdir()
    corpus = tmp_path / "corpus.txt"
    write_topic_corpus(corpus, lines=200)
    env = {key: value for key, value in os.environ.items()
           if key not in ("XDG_CACHE_HOME", "W2V_SPARK_CACHE_DIR")}
    env.update(HOME=str(home), PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, "-m", "w2v_spark", "train", "--input", str(corpus),
         "--output", str(results / "run"), "--set", "sgns.epochs=2", "--set", "vocab.min_count=2",
         "--set", "sgns.vector_size=8", "--set", "output.checkpoints=true"],
        capture_output=True, text=True, timeout=600, cwd=work, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(home.rglob("*")) == [] and list(work.rglob("*")) == []
    assert [p.name for p in results.iterdir()] == ["run"]
    assert (results / "run" / "_SUCCESS").is_file()
    # The driver's JVM, which local mode's tasks share, got our default heap, not Spark's 1 GB.
    manifest = json.loads((results / "run" / "_manifest.json").read_text())
    assert manifest["training"]["memory"]["driver_memory_bytes"] == 2 << 30


def test_a_run_in_a_joined_session_leaves_its_settings_as_it_found_them(spark, tmp_path):
    """A notebook's session: the run borrows our SQL settings and gives the session's own back
    (one of them set by the user, one not set at all), and sets nothing else."""
    corpus = tmp_path / "corpus.txt"
    write_topic_corpus(corpus, lines=100)
    key = "spark.sql.adaptive.coalescePartitions.parallelismFirst"
    spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
    before = dict(spark.conf.getAll)
    assert key not in before
    assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "run"), *FAST]) == 0
    assert dict(spark.conf.getAll) == before
    spark.conf.set(key, "true")
    assert main(["ppmi", "--input", str(corpus), "--output", str(tmp_path / "counted"),
                 "--set", "vocab.min_count=2", "--set", "ppmi.vector_size=4",
                 "--set", "ppmi.oversample=4"]) == 0
    assert spark.conf.get(key) == "true"
    spark.conf.unset(key)
    spark.conf.unset("spark.sql.session.timeZone")
