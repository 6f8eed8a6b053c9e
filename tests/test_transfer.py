"""bench/transfer.py's leave-one-out bookkeeping: the target is never trained on, and its labels are read
only by the final scoring, after every prediction is made."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from zerog_graph.graph import TextGraph
from zerog_graph.sampling import snowball_sample

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "transfer.py"


@pytest.fixture
def transfer(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("transfer_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("transfer_graphs", None)


def small_graph(name: str, num_nodes: int = 12) -> TextGraph:
    nodes = torch.arange(num_nodes)
    return TextGraph(
        texts=[f"{name} node {i}" for i in range(num_nodes)],
        edge_index=torch.stack([nodes, (nodes + 1) % num_nodes]),
        labels=nodes % 3,
        label_names=["a", "b", "c"],
        name=name,
    )


def test_leave_one_out_reads_no_target_label_before_scoring(transfer, monkeypatch):
    events = []

    def load_graph(spec):
        events.append(("load", spec))
        return small_graph(spec)

    def train(backbone, sources, seed, output_dir, extra, min_classes):
        events.append(("train", tuple(sources)))
        return {"train_seconds": 0.0}

    def predict(model_path, graph):
        assert (graph.labels == -1).all(), "a target label reached the model"
        events.append(("predict", graph.name))
        logits = {"2": torch.randn(graph.num_nodes, 3), "auto": torch.randn(graph.num_nodes, 3)}
        return {
            "logits": logits["2"],
            "settings": {"num_rounds": 2},
            "logits_by_rounds": logits,
            "rounds_by_rounds": {"2": 2, "auto": 5},
        }

    real_score = transfer.score

    def score(logits, graph):
        events.append(("score", graph.name))
        return real_score(logits, graph)

    for name, function in (("load_graph", load_graph), ("train", train), ("predict", predict), ("score", score)):
        monkeypatch.setattr(transfer, name, function)
    records = transfer.run_cell("minilm", "dblp", seeds=[0, 1], extra=[])

    assert [e for e in events if e[0] == "train"] == [("train", ("cora", "citeseer", "wordnet"))] * 2
    assert [r["kind"] for r in records] == ["training-free", "trained", "trained"]
    assert all(r["sources"] == ["cora", "citeseer", "wordnet"] for r in records)
    # The labelled target is loaded twice: once to hide its labels, once to score; scoring comes last.
    loads = [i for i, e in enumerate(events) if e == ("load", "dblp")]
    last_prediction = max(i for i, e in enumerate(events) if e[0] == "predict")
    assert len(loads) == 2 and loads[0] < events.index(("train", ("cora", "citeseer", "wordnet")))
    assert loads[1] > last_prediction
    assert all(i > loads[1] for i, e in enumerate(events) if e[0] == "score")
    assert all(r["by_rounds"]["auto"]["num_rounds"] == 5 for r in records)
    assert all(r["by_rounds"]["2"]["accuracy"] == r["accuracy"] for r in records)


def test_leave_one_out_refuses_an_unknown_target(transfer):
    with pytest.raises(ValueError, match="unknown target 'pubmed'"):
        transfer.leave_one_out("pubmed")
    assert transfer.leave_one_out("wordnet") == ["cora", "citeseer", "dblp"]


def test_unlabelled_copy_leaves_the_graph_untouched(transfer):
    graph = small_graph("g")
    hidden = transfer.unlabelled(graph)
    assert (hidden.labels == -1).all() and hidden.texts == graph.texts
    assert torch.equal(graph.labels, torch.arange(12) % 3)


def test_snowball_sample_is_reproducible_and_induced():
    graph = small_graph("ring", 200)
    first, again, other = (snowball_sample(graph, 50, seed) for seed in (0, 0, 1))
    assert first.num_nodes == 50 and first.texts == again.texts and first.texts != other.texts
    index = {text: i for i, text in enumerate(graph.texts)}
    kept = {(index[first.texts[a]], index[first.texts[b]]) for a, b in first.edge_index.T.tolist()}
    original = {tuple(e) for e in graph.edge_index.T.tolist()} | {tuple(e[::-1]) for e in graph.edge_index.T.tolist()}
    chosen = {index[t] for t in first.texts}
    assert kept == {(a, b) for a, b in original if a in chosen and b in chosen}  # every edge among the kept nodes
