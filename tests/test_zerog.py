"""Propagation, the embedding cache, sharded encoding and zero-shot accuracy on the real graphs."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_dense_adj

from propagation_zerog import add_prompt_nodes, normalized_adjacency, propagate, standardize, zerog_logits
from tests.helpers import launch_two_processes
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import main as cli
from zerog_graph.distributed import encode_sharded
from zerog_graph.evaluate import evaluate_graph, write_predictions
from zerog_graph.graph import TextGraph
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph

EDGE_INDEX = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # the path 0-1-2-3


# --- propagation -------------------------------------------------------------------------------------


def test_normalized_adjacency_matches_pyg_gcn_norm():
    edge_index = add_prompt_nodes(EDGE_INDEX, torch.zeros(4, dtype=torch.long))
    with_duplicates = torch.cat([edge_index, edge_index[:, :3], torch.tensor([[2], [2]])], dim=1)  # + a self-loop
    ours = normalized_adjacency(with_duplicates, 5).to_dense()
    pyg_index, pyg_weight = gcn_norm(edge_index, num_nodes=5, add_self_loops=True)
    assert torch.allclose(ours, to_dense_adj(pyg_index, edge_attr=pyg_weight, max_num_nodes=5)[0].T, atol=1e-6)


def test_propagation_equals_a_dense_reference():
    torch.manual_seed(0)
    x, prompt, labels = torch.randn(4, 8), torch.randn(1, 8), torch.randn(3, 8)
    dense = torch.zeros(5, 5)
    edges = add_prompt_nodes(EDGE_INDEX, torch.zeros(4, dtype=torch.long))
    dense[edges[0], edges[1]] = 1
    dense += torch.eye(5)
    deg = dense.sum(1).pow(-0.5)
    operator = deg[:, None] * dense * deg[None, :]
    h = torch.linalg.matrix_power(operator, 3) @ torch.cat([x, prompt])
    reference = torch.nn.functional.normalize(h[:4], dim=-1) @ torch.nn.functional.normalize(labels, dim=-1).T
    logits = zerog_logits(x, prompt, labels, EDGE_INDEX, num_rounds=3, standardize_embeds=False)
    assert torch.allclose(logits, reference, atol=1e-5)
    assert torch.allclose(propagate(torch.cat([x, prompt]), normalized_adjacency(edges, 5), 3), h, atol=1e-5)


def test_propagation_runs_under_bf16_autocast_in_fp32():
    """`--bf16` training on the CPU runs the model under autocast, which has no bf16 sparse product."""
    torch.manual_seed(0)
    x, prompt, labels = torch.randn(4, 8), torch.randn(1, 8), torch.randn(3, 8)
    adj = normalized_adjacency(add_prompt_nodes(EDGE_INDEX, torch.zeros(4, dtype=torch.long)), 5)
    nodes = torch.cat([x, prompt])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        propagated = propagate(nodes, adj, 3)
        projected = propagate(nodes.bfloat16(), adj, 3)  # zerog_logits(cosine=False) propagates a bf16 product
        logits = zerog_logits(x, prompt, labels, EDGE_INDEX, num_rounds=3)
    assert propagated.dtype == projected.dtype == torch.float32
    assert torch.allclose(propagated, propagate(nodes, adj, 3), atol=1e-6)
    assert torch.allclose(logits.float(), zerog_logits(x, prompt, labels, EDGE_INDEX, num_rounds=3), atol=2e-2)


def test_batched_subgraphs_are_independent():
    torch.manual_seed(0)
    x, prompts, labels = torch.randn(8, 6), torch.randn(2, 6), torch.randn(5, 6)
    batch, label_batch = torch.tensor([0] * 4 + [1] * 4), torch.tensor([0, 0, 0, 1, 1])
    edge_index = torch.cat([EDGE_INDEX, EDGE_INDEX + 4], dim=1)
    logits = zerog_logits(x, prompts, labels, edge_index, 2, True, batch, label_batch)
    first = zerog_logits(x[:4], prompts[:1], labels[:3], EDGE_INDEX, 2, True)
    assert torch.allclose(logits[:4, :3], first, atol=1e-5)
    assert torch.isinf(logits[:4, 3:]).all() and torch.isinf(logits[4:, :3]).all()
    assert torch.allclose(standardize(x, batch)[:4], standardize(x[:4]), atol=1e-5)
    assert torch.allclose(standardize(x[:4]), (x[:4] - x[:4].mean(0)) / x[:4].std(0), atol=1e-4)


@pytest.mark.parametrize("standardize_embeds", [True, False])
def test_label_projection_is_the_cosine_times_the_node_norm(standardize_embeds):
    """The evaluator's path propagates `x @ labels.T`; it must equal the cosine times |propagated node|."""
    torch.manual_seed(0)
    x, prompts, labels = torch.randn(8, 6) * 3 + 1, torch.randn(2, 6), torch.randn(5, 6)
    batch, label_batch = torch.tensor([0] * 4 + [1] * 4), torch.tensor([0, 0, 0, 1, 1])
    edge_index = torch.cat([EDGE_INDEX, EDGE_INDEX + 4], dim=1)
    args = (x, prompts, labels, edge_index, 3, standardize_embeds, batch, label_batch)
    cosine, scores = zerog_logits(*args), zerog_logits(*args, cosine=False)
    nodes = torch.cat([x, prompts])
    if standardize_embeds:
        nodes = standardize(nodes, torch.cat([batch, torch.arange(2)]))
    edges = add_prompt_nodes(edge_index, batch)
    norms = propagate(nodes, normalized_adjacency(edges, 10), 3)[:8].norm(dim=-1, keepdim=True)
    assert torch.isinf(scores[:4, 3:]).all() and torch.isinf(scores[4:, :3]).all()
    finite = torch.isfinite(cosine)
    assert torch.allclose(scores[finite], (cosine * norms)[finite], atol=1e-4)
    assert torch.equal(scores.argmax(-1), cosine.argmax(-1))


# --- cache --------------------------------------------------------------------------------------------


@pytest.fixture()
def toy_graph():
    texts = [
        "neural networks learn from data",
        "backpropagation trains deep nets",
        "sql query optimisation",
        "indexes for relational databases",
        "transactions and concurrency control",
    ]
    return TextGraph(
        texts=texts,
        edge_index=torch.tensor([[0, 2, 3], [1, 3, 4]]),
        labels=[0, 0, 1, 1, 1],
        label_names=["machine learning", "databases"],
        description="papers",
        name="toy",
    )


def count_forwards(model, monkeypatch) -> list:
    calls = []
    embed = model.embed
    monkeypatch.setattr(model, "embed", lambda *a, **k: calls.append(a[0].size(0)) or embed(*a, **k))
    return calls


@pytest.mark.slow
def test_second_evaluation_runs_no_forward_pass(minilm, toy_graph, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    calls = count_forwards(minilm, monkeypatch)
    first = evaluate_graph(minilm, toy_graph, cache=cache)
    assert sum(calls) == 5 + 3  # nodes, then description and labels together
    calls.clear()
    second = evaluate_graph(minilm, toy_graph, cache=cache)
    assert calls == [] and second.accuracy == first.accuracy
    monkeypatch.setattr(minilm.config, "template", "Topic: {text}")  # a different key: encoded again
    evaluate_graph(minilm, toy_graph, cache=cache)
    assert sum(calls) == 8


@pytest.mark.slow
def test_interrupted_or_truncated_cache_shard_is_never_read(minilm, toy_graph, tmp_path, monkeypatch):
    import pyarrow as pa

    cache = EmbeddingCache(tmp_path)
    real_open = pa.OSFile

    def crash_midway(path, mode="r"):
        if mode == "wb":
            with real_open(path, mode) as f:
                f.write(b"half a shard")
            raise KeyboardInterrupt("killed while writing")
        return real_open(path, mode)

    monkeypatch.setattr(pa, "OSFile", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(minilm, toy_graph.texts)
    monkeypatch.setattr(pa, "OSFile", real_open)
    assert list(tmp_path.rglob("*.partial-*")) == [] and list(tmp_path.rglob("shard-*")) == []
    reference = cache.encode(minilm, toy_graph.texts)
    (arrow,) = tmp_path.rglob("shard-*.arrow")
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    calls = count_forwards(minilm, monkeypatch)
    rebuilt = EmbeddingCache(tmp_path).encode(minilm, toy_graph.texts)
    assert sum(calls) == 5 and torch.allclose(rebuilt, reference)


@pytest.mark.slow
def test_sharded_encoding_equals_unsharded(minilm, minilm_path, tmp_path):
    texts = [f"text number {i} about {'graphs' if i % 2 else 'databases'}" + " more" * i for i in range(37)]
    script = Path(__file__).with_name("shard_encode.py")
    result = launch_two_processes(script, minilm_path, tmp_path / "sharded.pt", *texts, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    sharded = torch.load(tmp_path / "sharded.pt", weights_only=True)
    assert sharded["num_processes"] == 2
    assert torch.allclose(sharded["embeds"], encode_sharded(minilm, texts), atol=1e-5)


@pytest.mark.slow
def test_predictions_file(minilm, toy_graph, tmp_path):
    result = evaluate_graph(minilm, toy_graph, cache=EmbeddingCache(tmp_path), with_cosines=True)
    write_predictions(tmp_path / "toy.csv", toy_graph, result)
    lines = (tmp_path / "toy.csv").read_text().splitlines()
    assert lines[0] == "node,predicted,confidence,label,cosine_machine learning,cosine_databases" and len(lines) == 6
    node, predicted, confidence, label, *cosines = lines[3].split(",")
    assert (node, label) == ("2", "databases") and predicted in toy_graph.label_names
    assert 0.5 <= float(confidence) <= 1 and all(-1 <= float(c) <= 1 for c in cosines)


# --- accuracy on the real graphs ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name, floor", [("cora", 0.64), ("citeseer", 0.67), ("dblp", 0.73)])
def test_minilm_training_free_accuracy(minilm, data_dir, tmp_path_factory, name, floor):
    result = evaluate_graph(minilm, load_graph(name), cache=EmbeddingCache(tmp_path_factory.mktemp("cache")))
    assert result.settings["pooling"] == "mean" and result.num_scored == load_graph(name).num_nodes
    assert result.accuracy >= floor, f"{name}: {result.accuracy:.3f} < {floor}"


@pytest.mark.slow
def test_decoder_path_uses_last_token_end_to_end(smollm2_path, data_dir, tmp_path):
    cora = load_graph("cora")
    nodes = torch.arange(0, cora.num_nodes, 9)  # 301 nodes, every class present
    graph = cora.subgraph(nodes)
    model = load_model("smollm2", dtype=torch.bfloat16)
    assert model.pooling_mode == "last" and model.config.template is not None
    assert model.tokenizer.padding_side == "left"
    result = evaluate_graph(model, graph, num_rounds=0, cache=EmbeddingCache(tmp_path))
    assert result.accuracy > 0.4  # chance is about 0.3 (the largest class)


# --- the command line ------------------------------------------------------------------------------------


def test_cli_prints_a_table_and_writes_results(minilm_path, tmp_path, capsys, monkeypatch):
    graph = {
        "texts": ["neural networks learn", "sql databases", "deep learning models", "query optimisation"],
        "edges": [[0, 2], [1, 3]],
        "labels": [0, 1, 0, 1],
        "label_names": ["machine learning", "databases"],
        "description": "papers",
    }
    (tmp_path / "toy.json").write_text(json.dumps(graph))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    args = ["eval", "--model", minilm_path, "--graph", str(tmp_path / "toy.json"), "--rounds", "1", "--dtype", "fp32"]
    outputs = ["--output", str(tmp_path / "results.json"), "--predictions", str(tmp_path / "predictions")]
    assert cli(args + outputs) == 0
    stdout = capsys.readouterr().out
    assert stdout.splitlines()[0].split() == ["graph", "nodes", "scored", "R", "accuracy", "macro-F1", "majority"]
    assert stdout.splitlines()[1].split() == ["toy", "4", "4", "1", "100.0%", "100.0%", "50.0%"]  # each topic plain
    results = json.loads((tmp_path / "results.json").read_text())
    metrics = {"accuracy", "macro_f1", "macro_f1_classes", "num_nodes", "num_scored", "majority_accuracy"}
    assert set(results["toy"]) == {"graph", "source", "settings"} | metrics
    assert results["toy"]["macro_f1_classes"] == graph["label_names"]  # both classes are among the labels
    assert results["toy"]["majority_accuracy"] == 0.5  # two classes, two nodes each
    assert results["toy"]["settings"]["num_rounds"] == 1
    assert (results["toy"]["accuracy"], results["toy"]["macro_f1"], results["toy"]["num_scored"]) == (1.0, 1.0, 4)
    rows = list(csv.DictReader((tmp_path / "predictions" / "toy.csv").open()))
    assert [row["predicted"] for row in rows] == [row["label"] for row in rows] == graph["label_names"] * 2


@pytest.mark.slow
def test_cli_module_entry_exits_2_without_a_traceback(tmp_path):
    missing = str(tmp_path / "missing.json")
    command = [sys.executable, "-m", "zerog_graph", "eval", "--model", "minilm", "--graph", missing]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert bad.returncode == 2 and "missing.json" in bad.stderr and "Traceback" not in bad.stderr
