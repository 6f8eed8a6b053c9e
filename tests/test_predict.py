"""Predictions: unlabelled graphs, class names from the command line, true-cosine confidences, and
result names that a graph's own name cannot steer."""

import csv
import json

import pytest
import torch

from propagation_zerog import zerog_logits
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import main as cli
from zerog_graph.evaluate import embed_graph, evaluate_graph, write_predictions
from zerog_graph.graph import TextGraph

TEXTS = [
    "Deep neural networks trained with backpropagation",
    "Query optimisation in relational databases",
    "Convolutional networks for image recognition",
    "Transaction processing and B-tree indexing",
]


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))


def read_rows(path) -> list:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def csv_folder(folder, label_column: bool = False):
    """A user's folder: nodes.csv (no label column unless asked) and edges.csv."""
    folder.mkdir()
    header = "id,text,label" if label_column else "id,text"
    rows = [f'p{i},"{text}"' + ("," if label_column else "") for i, text in enumerate(TEXTS, start=1)]
    (folder / "nodes.csv").write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    (folder / "edges.csv").write_text("source,target\np1,p3\np2,p4\n", encoding="utf-8")
    return str(folder)


def test_predict_labels_a_csv_folder_without_labels(minilm_path, tmp_path, capsys, own_cache):
    (tmp_path / "labels.txt").write_text("machine learning\n\ndatabases\n", encoding="utf-8")
    graph = csv_folder(tmp_path / "papers")
    args = ["--model", minilm_path, "--graph", graph, "--labels", str(tmp_path / "labels.txt"), "--dtype", "fp32"]
    code = cli(["predict", *args, "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    # 4 nodes, none labelled (so none scored), the R that auto chose, no metrics
    assert out.splitlines()[0].split() == ["graph", "nodes", "scored", "R", "accuracy", "macro-F1", "majority"]
    row = out.splitlines()[1].split()
    assert row[:3] == ["papers", "4", "0"] and row[3].isdigit() and row[4:] == ["-", "-", "-"]
    rows = read_rows(tmp_path / "out" / "papers.csv")
    assert list(rows[0]) == ["node", "predicted", "confidence", "label", "cosine_machine learning", "cosine_databases"]
    assert [r["node"] for r in rows] == ["p1", "p2", "p3", "p4"]  # the user's ids
    assert [r["predicted"] for r in rows] == ["machine learning", "databases"] * 2
    assert all(r["label"] == "" for r in rows)
    for row in rows:  # confidence = softmax(cosine / T), T = 1 / logit_scale = 0.1, of the predicted class
        cosines = torch.tensor([float(row["cosine_machine learning"]), float(row["cosine_databases"])])
        assert -1 <= cosines.min() and cosines.max() <= 1
        assert float(row["confidence"]) == pytest.approx(torch.softmax(cosines / 0.1, 0).max().item(), abs=2e-4)
    assert cli(["predict", *args, "--output", str(tmp_path / "out")]) == 2  # no silent overwrite
    assert "papers.csv already exist(s); pass --overwrite" in capsys.readouterr().err


def test_eval_on_an_unlabelled_graph_reports_no_metrics(minilm_path, tmp_path, capsys, own_cache):
    unlabelled = {"texts": TEXTS, "edges": [[0, 2]], "labels": [-1] * 4, "label_names": ["machine learning", "db"]}
    (tmp_path / "u.json").write_text(json.dumps(unlabelled))
    masked = {**unlabelled, "labels": [0, 1, -1, -1], "test_mask": [False, False, True, True], "name": "masked"}
    (tmp_path / "m.json").write_text(json.dumps(masked))
    code = cli(
        ["eval", "--model", minilm_path, "--graph", str(tmp_path / "u.json"), "--graph", str(tmp_path / "m.json")]
        + ["--output", str(tmp_path / "results.json"), "--predictions", str(tmp_path / "pred"), "--dtype", "fp32"]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("u", "masked"):
        assert results[key]["accuracy"] is None and results[key]["macro_f1"] is None
        assert results[key]["majority_accuracy"] is None and results[key]["num_scored"] == 0
    assert results["u"]["settings"]["confidence_temperature"] == pytest.approx(0.1)
    assert [r["label"] for r in read_rows(tmp_path / "pred" / "masked.csv")] == ["machine learning", "db", "", ""]
    assert len(read_rows(tmp_path / "pred" / "u.csv")) == 4


@pytest.mark.slow
@pytest.mark.parametrize("standardize", [True, False])
def test_prediction_cosines_are_the_cosine_path(minilm, tmp_path, standardize):
    graph = TextGraph(
        texts=TEXTS + ["a survey of learned index structures"],
        edge_index=torch.tensor([[0, 1, 2, 3], [2, 3, 4, 4]]),
        labels=[0, 1, -1, -1, -1],
        label_names=["machine learning", "databases", "theory"],
        description="papers",
    )
    result = evaluate_graph(minilm, graph, 3, standardize, cache=EmbeddingCache(tmp_path), with_cosines=True)
    embeds = embed_graph(minilm, graph, cache=EmbeddingCache(tmp_path))
    cosines = zerog_logits(embeds.nodes, embeds.description, embeds.labels, graph.edge_index, 3, standardize)
    assert torch.allclose(result.cosines, cosines, atol=1e-5)
    without = evaluate_graph(minilm, graph, 3, standardize, cache=EmbeddingCache(tmp_path))
    assert without.cosines is None
    logits = zerog_logits(
        embeds.nodes, embeds.description, embeds.labels, graph.edge_index, 3, standardize, cosine=False
    )
    assert torch.equal(without.logits, logits)
    # `logits` means one thing, with or without the cosines: the projection's scores (one propagation either way)
    assert torch.allclose(result.logits, without.logits, atol=1e-4)
    assert not torch.allclose(without.logits, cosines, atol=1e-2)  # the projection's scores are not cosines
    assert torch.equal(without.logits.argmax(-1), result.logits.argmax(-1))  # the same classes
    assert result.accuracy == without.accuracy and result.num_scored == 2
    with pytest.raises(ValueError, match="with_cosines=True"):
        write_predictions(tmp_path / "p.csv", graph, without)


def test_graph_names_never_steer_where_files_go(minilm_path, tmp_path, capsys, own_cache):
    base = {"texts": TEXTS[:2], "edges": [], "labels": [0, 1], "label_names": ["machine learning", "databases"]}
    names = ["../escaped", str(tmp_path / "absolute"), "twin", "twin"]
    graphs = []
    for i, name in enumerate(names):
        graphs += ["--graph", str(tmp_path / f"g{i}.json")]
        (tmp_path / f"g{i}.json").write_text(
            json.dumps({**base, "name": name, "texts": [f"{i} {t}" for t in TEXTS[:2]]})
        )
    out = tmp_path / "deep" / "pred"
    code = cli(
        ["eval", "--model", minilm_path, *graphs, "--predictions", str(out), "--output", str(tmp_path / "r.json")]
    )
    assert code == 0, capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and all(p.parent == out for p in out.iterdir())
    assert not (tmp_path / "deep" / "escaped.csv").exists() and not (tmp_path / "absolute.csv").exists()
    results = json.loads((tmp_path / "r.json").read_text())
    assert sorted(f"{key}.csv" for key in results) == written
    assert [results[key]["graph"] for key in results] == names
    assert sum(key.startswith("twin-") for key in results) == 2
    assert all(r["accuracy"] is not None for r in results.values())
