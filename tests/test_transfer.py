"""bench/transfer.py's leave-one-out bookkeeping: the target is never trained on, and its labels are read
only by the final scoring, after every prediction is made."""

import json

import pytest
import torch

from bench import transfer
from zerog_graph.graph import TextGraph
from zerog_graph.sampling import snowball_sample


def small_graph(name: str, num_nodes: int = 12) -> TextGraph:
    nodes = torch.arange(num_nodes)
    return TextGraph(
        texts=[f"{name} node {i}" for i in range(num_nodes)],
        edge_index=torch.stack([nodes, (nodes + 1) % num_nodes]),
        labels=nodes % 3,
        label_names=["a", "b", "c"],
        name=name,
    )


def test_leave_one_out_reads_no_target_label_before_scoring(monkeypatch):
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


def test_leave_one_out_refuses_an_unknown_target():
    with pytest.raises(ValueError, match="unknown target 'pubmed'"):
        transfer.leave_one_out("pubmed")
    assert transfer.leave_one_out("wordnet") == ["cora", "citeseer", "dblp"]


def test_table_gains_are_trained_minus_training_free_means(tmp_path, capsys):
    """The goal's figures: per target, the seeds' mean trained accuracy minus training-free; then mean and worst."""

    def record(target, kind, seed, auto, fixed):
        by_rounds = {
            "auto": {"accuracy": auto, "macro_f1": 0, "num_rounds": 3},
            "2": {"accuracy": fixed, "macro_f1": 0},
        }
        return {"backbone": "minilm", "target": target, "kind": kind, "seed": seed, "extra": [],
                "by_rounds": by_rounds, "accuracy": auto, "macro_f1": 0, "eval_seconds": 1}  # fmt: skip

    rows = [
        record("cora", "training-free", None, 0.70, 0.60),
        record("cora", "trained", 0, 0.73, 0.60),
        record("cora", "trained", 1, 0.72, 0.62),
        record("dblp", "training-free", None, 0.80, 0.80),
        record("dblp", "trained", 0, 0.79, 0.80),
    ]
    results = tmp_path / "transfer.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    transfer.print_table(results)
    lines = capsys.readouterr().out.splitlines()
    assert "minilm (defaults) R=auto: trained - training-free cora +2.50, dblp -1.00; mean +0.75 over 2; " \
        "worst dblp -1.00" in lines  # fmt: skip
    assert "minilm (defaults) R=2: trained - training-free cora +1.00, dblp +0.00; mean +0.50 over 2; " \
        "worst dblp +0.00" in lines  # fmt: skip


def test_unlabelled_copy_leaves_the_graph_untouched():
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


def test_given_statistics_standardise_like_the_graphs_own():
    from propagation_zerog import graph_statistics, zerog_logits

    generator = torch.Generator().manual_seed(0)
    nodes, prompts, labels = (torch.randn(n, 8, generator=generator) for n in (10, 2, 6))
    batch, label_batch = torch.tensor([0] * 6 + [1] * 4), torch.tensor([0, 0, 0, 1, 1, 1])
    edges = torch.tensor([[0, 1, 6, 7], [1, 2, 7, 8]])
    own = graph_statistics(torch.cat([nodes, prompts]), torch.cat([batch, torch.arange(2)]))
    for cosine in (True, False):
        expected = zerog_logits(nodes, prompts, labels, edges, 2, batch=batch, label_batch=label_batch, cosine=cosine)
        given = zerog_logits(
            nodes, prompts, labels, edges, 2, batch=batch, label_batch=label_batch, cosine=cosine, statistics=own
        )
        assert torch.allclose(given, expected, atol=1e-5)
    other = (own[0] + 1.0, own[1] * 2.0)
    moved = zerog_logits(nodes, prompts, labels, edges, 2, batch=batch, label_batch=label_batch, statistics=other)
    assert not torch.allclose(moved, expected, atol=1e-3)


def test_collator_adds_each_subgraphs_source_statistics(minilm_path):
    from transformers import AutoTokenizer

    from zerog_graph.collator import ZeroGCollator
    from zerog_graph.sampling import SubgraphDataset

    graphs = [small_graph("first"), small_graph("second")]
    dataset = SubgraphDataset(graphs, num_subgraphs=2, k_hops=1, max_nodes=3, min_classes=2)
    statistics = [(torch.full((4,), float(i)), torch.full((4,), 10.0 + i)) for i in range(2)]
    collate = ZeroGCollator(AutoTokenizer.from_pretrained(minilm_path), statistics=statistics)
    items = [dataset[i] for i in range(4)]  # graphs alternate: first, second, first, second
    batch = collate(items)
    assert [item["graph_index"] for item in items] == [0, 1, 0, 1]
    assert batch["node_mean"][:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert batch["node_scale"][:, 0].tolist() == [10.0, 11.0, 10.0, 11.0]
    assert "node_mean" not in ZeroGCollator(collate.tokenizer)(items)
