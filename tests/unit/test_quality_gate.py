"""The quality gate (``evaluate --require``) and ``publish``: plain files, no Spark."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.unit.test_evaluation import _structured_vectors
from w2v_spark import Embeddings
from w2v_spark.cli import main
from w2v_spark.errors import InputDataError
from w2v_spark.vectors.evaluation import Requirement, check_requirements, evaluate
from w2v_spark.vectors.publish import publish
from w2v_spark.vectors.word2vec_format import embeddings_table


def _embeddings() -> Embeddings:
    words, matrix = _structured_vectors()
    return Embeddings(words, np.arange(len(words), 0, -1), matrix)


@pytest.fixture(scope="module")
def report():
    return evaluate(_embeddings(), restrict=900)


def test_requirement_syntax():
    req = Requirement.parse("sgns/questions-words.accuracy >= 0.05")
    assert (req.method, req.benchmark, req.statistic, req.op, req.bound) == \
        ("sgns", "questions-words", "accuracy", ">=", 0.05)
    req = Requirement.parse("wordsim353.oov_ratio<=0.5")
    assert (req.method, req.benchmark, req.op) == (None, "wordsim353", "<=")
    for bad, message in [("wordsim353.spearman>0.3", "expected"), ("wordsim353.rho>=0.3", "unknown statistic"),
                         ("wordsim353.spearman>=x", "expected"), ("spearman>=0.3", "expected"),
                         ("wordsim353.spearman>=1.2.3", "not a number")]:
        with pytest.raises(ValueError, match=message):
            Requirement.parse(bad)


def test_requirements_hold_or_fail_per_method(report):
    reports = {"sgns": report, "ppmi_svd": {**report, "pairs": [
        {**p, "spearman": p["spearman"] - 0.5} for p in report["pairs"]]}}
    rho = report["pairs"][0]["spearman"]
    accuracy = report["analogies"][0]["accuracy"]
    assert 0.2 < accuracy < 0.95  # many questions right, not all (measured: 84.6 % at restrict 900)
    gate = [Requirement.parse(f"wordsim353.spearman>={rho - 0.01}")]
    assert check_requirements({"sgns": report}, gate) == []
    failures = check_requirements(reports, gate)
    assert len(failures) == 1 and failures[0].startswith("ppmi_svd wordsim353.spearman = ")
    assert check_requirements(reports, [Requirement.parse(f"sgns/wordsim353.spearman>={rho - 0.01}")]) == []
    assert check_requirements(reports, [Requirement.parse(f"questions-words.accuracy>={accuracy + 0.001}")]) \
        == [f"{m} questions-words.accuracy = {accuracy:.4f}, required >= {accuracy + 0.001:g}"
            for m in ("sgns", "ppmi_svd")]
    semantic = report["analogies"][0]["totals"]["semantic"]["accuracy"]
    assert check_requirements(reports, [Requirement.parse(f"questions-words.semantic<={semantic}")]) == []
    with pytest.raises(KeyError, match="benchmarks: wordsim353, simlex999, questions-words"):
        check_requirements(reports, [Requirement.parse("men.spearman>=0.1")])
    with pytest.raises(KeyError, match="no method 'fasttext'"):
        check_requirements(reports, [Requirement.parse("fasttext/wordsim353.spearman>=0.1")])


@pytest.fixture()
def run(tmp_path):
    ours = _embeddings()
    run = tmp_path / "run_date=2026-11-02"
    (run / "embeddings").mkdir(parents=True)
    pq.write_table(embeddings_table(ours.words, ours.counts, ours.vectors), run / "embeddings" / "p.parquet")
    (run / "_manifest.json").write_text(json.dumps({"run_id": "abc", "method": "sgns"}))
    (run / "_SUCCESS").write_text("")
    return run


def test_cli_gate_exit_code_and_message(run, capsys):
    assert main(["evaluate", "--embeddings", str(run), "--restrict", "900",
                 "--require", "wordsim353.spearman>=0.99,questions-words.accuracy>=0"]) == 5
    err = capsys.readouterr().err
    assert "error: quality gate failed: sgns wordsim353.spearman = " in err and "required >= 0.99" in err
    assert (run / "evaluation.json").is_file()  # the numbers behind the verdict are kept
    assert main(["evaluate", "--embeddings", str(run), "--restrict", "900",
                 "--require", "simlex999.spearman>=0.2", "--require", ""]) == 0  # measured 0.226
    assert main(["evaluate", "--embeddings", str(run), "--require", "wordsim353.rho>=0.1"]) == 2
    assert main(["evaluate", "--embeddings", str(run), "--require", "men.spearman>=0.1"]) == 2


def test_publish_moves_forward_only_and_is_idempotent(run, tmp_path):
    pointer = tmp_path / "LATEST.json"
    with pytest.raises(InputDataError, match="no evaluation.json"):
        publish(run, pointer)
    assert main(["evaluate", "--embeddings", str(run), "--restrict", "900"]) == 0
    first = publish(run, pointer)
    assert first["label"] == "run_date=2026-11-02" and first["run_id"] == "abc"
    assert first["path"] == str(run) and set(first["evaluation"]["sgns"]) == \
        {"wordsim353", "simlex999", "questions-words"}
    assert publish(run, pointer) == first  # a retried publish changes nothing
    older = tmp_path / "run_date=2026-11-01"
    run.rename(older)
    assert publish(older, pointer) == first  # a backfill does not move the pointer back
    assert json.loads(pointer.read_text()) == first
    newer = tmp_path / "run_date=2026-11-03"
    older.rename(newer)
    assert publish(newer, pointer)["path"] == str(newer)
    (newer / "_SUCCESS").unlink()
    assert main(["publish", "--run", str(newer), "--pointer", str(pointer)]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST.json", "run_date=2026-11-03"]
