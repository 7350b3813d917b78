"""The blockwise neighbours job against brute force, and the HTML report of a real run."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from w2v_spark import Embeddings
from w2v_spark.cli import main
from w2v_spark.vectors.neighbors import nearest_neighbors, top_k
from w2v_spark.vectors.word2vec_format import embeddings_table

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(53)]
    vectors = rng.standard_normal((53, 6)).astype(np.float32)
    vectors[7] = 0  # a word with no vector at all
    root = tmp_path_factory.mktemp("emb")
    (root / "embeddings").mkdir()
    pq.write_table(embeddings_table(words, np.arange(53, 0, -1), vectors), root / "embeddings" / "p.parquet")
    return root, Embeddings(words, np.arange(53, 0, -1), vectors)


def _brute_force(emb, k):
    cos = emb.unit @ emb.unit.T
    np.fill_diagonal(cos, -np.inf)
    expected = {}
    for i, word in enumerate(emb.words):
        order = sorted(range(len(emb.words)), key=lambda j: (-cos[i, j], j))[:k]
        expected[word] = [(emb.words[j], float(cos[i, j])) for j in order]
    return expected


def test_blockwise_neighbours_equal_brute_force(spark, small):
    root, emb = small
    frame = spark.read.parquet(str(root / "embeddings"))
    # Blocks of 16 rows: 4 query blocks × 4 candidate blocks, top-5 merged across blocks.
    rows = nearest_neighbors(spark, frame, topn=5, block_size=16).collect()
    found = {}
    for r in sorted(rows, key=lambda r: (r.word, r.rank)):
        found.setdefault(r.word, []).append((r.neighbor, r.cosine))
    expected = _brute_force(emb, 5)
    assert set(found) == set(expected)
    for word, neighbours in expected.items():
        assert [n for n, _ in found[word]] == [n for n, _ in neighbours], word
        assert np.allclose([c for _, c in found[word]], [c for _, c in neighbours], atol=1e-6)
    some = nearest_neighbors(spark, frame, topn=3, block_size=16, words=["w3", "w40"]).collect()
    assert {(r.word, r.rank): r.neighbor for r in some} == {
        (w, rank): expected[w][rank - 1][0] for w in ("w3", "w40") for rank in (1, 2, 3)}


def test_top_k_breaks_ties_by_id():
    scores = np.array([[0.5, 0.9, 0.5, -np.inf]], dtype=np.float32)
    ids, best = top_k(scores, np.array([30, 20, 10, 5]), 3)
    assert ids.tolist() == [[20, 10, 30]] and best.tolist()[0][:1] == [pytest.approx(0.9)]


def test_neighbors_command_writes_parquet_atomically(spark, small, tmp_path):
    root, emb = small
    out = tmp_path / "nn"
    assert main(["neighbors", "--embeddings", str(root), "--output", str(out), "--topn", "2",
                 "--block-size", "20"]) == 0
    table = pq.read_table(out / "neighbors")
    assert table.schema.names == ["word", "neighbor", "rank", "cosine"]
    assert table.num_rows == 53 * 2 and (out / "_SUCCESS").is_file()
    assert main(["neighbors", "--embeddings", str(root), "--output", str(out)]) == 4  # exists


def test_neighbors_of_chosen_words_names_those_it_does_not_know(spark, small, tmp_path, caplog):
    root, _ = small
    out = tmp_path / "some"
    assert main(["neighbors", "--embeddings", str(root), "--output", str(out), "--topn", "2",
                 "--words", "w3,nope,w5,zilch"]) == 0
    assert sorted(set(pq.read_table(out / "neighbors").column("word").to_pylist())) == ["w3", "w5"]
    assert "neighbors: not in the vocabulary, no rows for: nope, zilch" in caplog.text


def test_report_of_a_run_with_both_methods(spark, topic_corpus, tmp_path, capsys):
    run = tmp_path / "both"
    assert main(["train", "--input", topic_corpus, "--output", str(run),
                 "--set", 'pipeline.methods=["sgns", "ppmi_svd"]', "--set", "vocab.min_count=2",
                 "--set", "sgns.epochs=2", "--set", "sgns.vector_size=12", "--set", "ppmi.vector_size=8",
                 "--set", "sgns.window=3", "--set", "ppmi.window=3"]) == 0
    capsys.readouterr()
    assert main(["similar", "--embeddings", str(run), "cat", "--topn", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "[sgns]" and printed[2] == "[ppmi_svd]"
    assert all(line.startswith("cat: ") for line in (printed[1], printed[3]))
    pairs = tmp_path / "topics.tsv"  # a benchmark this vocabulary covers
    pairs.write_text("cat\tdog\t9\ncat\tcar\t1\nbus\ttruck\t9\nbread\tcake\t8\nsoup\tbike\t1\nhorse\tcow\t8\n")
    questions = tmp_path / "questions.txt"
    questions.write_text(": topics\ncat dog car bus\ncar bus cat dog\n")
    assert main(["evaluate", "--embeddings", str(run), "--pairs", str(pairs),
                 "--analogies", str(questions), "--restrict", "1000"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert set(evaluation) == {"sgns", "ppmi_svd"}
    # Measured: ρ 0.837 skip-gram, 0.717 PPMI-SVD on these six pairs (0 = unrelated).
    assert all(evaluation[m]["pairs"][0]["spearman"] > 0.5 for m in evaluation), evaluation

    assert main(["report", "--run", str(run), "--words", "cat,car,bread",
                 "--group", "animals=cat,dog,horse,cow", "--group", "vehicles=car,bus,train,boat"]) == 0
    page = (run / "report" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # training chart + one map per method
    assert "<th>sgns</th><th>ppmi_svd</th>" in page and "topics.tsv" in page
    for png in ("training.png", "map_sgns.png", "map_ppmi_svd.png"):
        assert (run / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<td>cat</td>" in page and "<td>bread</td>" in page
