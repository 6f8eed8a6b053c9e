"""Encoding that streams into cache shards, resumes after a kill, reuses every text it has, and a scoring
pipeline that reads the shards a chunk at a time and agrees exactly with the in-memory one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import modeling_zerog
import propagation_zerog
from propagation_zerog import collapse, zerog_logits
from zerog_graph.cache import EmbeddingCache, ShardRows, model_fingerprint
from zerog_graph.evaluate import embed_graph, evaluate_graph
from zerog_graph.registry import load_graph

from .helpers import launch_two_processes

SHARD_ROWS = 64


@pytest.fixture(scope="module")
def cora300(shared_data):
    os.environ["ZEROG_DATA"] = str(shared_data)
    try:
        return load_graph("cora").subgraph(torch.arange(300))
    finally:
        del os.environ["ZEROG_DATA"]


def count_forwards(model, monkeypatch, fail_at=None) -> list:
    """Records the batch size of every forward pass; raises KeyboardInterrupt at call `fail_at` (a Ctrl-C)."""
    calls, embed = [], type(model).embed.__get__(model)  # the model's own, not an earlier test's wrapper

    def counted(*args, **kwargs):
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt("killed")
        calls.append(args[0].size(0))
        return embed(*args, **kwargs)

    monkeypatch.setattr(model, "embed", counted)
    return calls


def node_shards(root: Path) -> list:
    return sorted(root.rglob("shard-*.arrow"))


@pytest.mark.slow
@pytest.mark.parametrize("block", [None, 50])
def test_streamed_scores_equal_in_memory_scores_exactly(minilm, cora300, tmp_path, monkeypatch, block):
    """The cached path (shards of 64 texts, read in chunks of 40 rows) and the in-memory one give the same bits:
    the R that auto chooses, the dot-product scores, the cosines and the collapse; `block` splits the propagated
    vectors into blocks of columns (a graph too large for one)."""
    if block is not None:
        monkeypatch.setattr(propagation_zerog, "PROPAGATION_BLOCK", block * 301)
    monkeypatch.setattr(ShardRows.__init__, "__defaults__", (40,))
    monkeypatch.setattr(modeling_zerog, "TOKENIZE_WINDOW", 2)  # the cache's window for shards of 64 texts
    cache = EmbeddingCache(tmp_path, shard_rows=SHARD_ROWS)
    in_memory = embed_graph(minilm, cora300, cache=False, as_rows=True)
    streamed = embed_graph(minilm, cora300, cache=cache, as_rows=True)
    assert isinstance(streamed.nodes, ShardRows) and len(node_shards(tmp_path)) >= 4
    assert torch.equal(streamed.nodes.tensor(), in_memory.nodes.tensor())
    for cosine in (False, True):
        scores = [
            zerog_logits(e.nodes, e.description, e.labels, cora300.edge_index, (0, 2, 5), cosine=cosine)
            for e in (in_memory, streamed)
        ]
        assert all(torch.equal(a, b) for a, b in zip(*scores))
    assert collapse(in_memory.nodes, in_memory.description, cora300.edge_index, 10) == collapse(
        streamed.nodes, streamed.description, cora300.edge_index, 10
    )
    whole = in_memory.nodes.tensor()
    dense = zerog_logits(whole, in_memory.description, in_memory.labels, cora300.edge_index, 5)
    assert torch.allclose(dense, scores[1][-1], atol=1e-5)  # blocks of columns: the same cosines
    results = [evaluate_graph(minilm, cora300, cache=c, with_cosines=True) for c in (False, cache)]
    assert torch.equal(results[0].logits, results[1].logits)
    assert results[0].settings == results[1].settings


@pytest.mark.slow
def test_interrupted_encode_resumes_from_its_last_shard(minilm, cora300, tmp_path, monkeypatch):
    """Ctrl-C at the fifth batch of 32: the two finished shards of 64 texts stay; the rerun encodes the other
    texts only, and its predictions and scores are those of an uninterrupted run, bit for bit."""
    uninterrupted = evaluate_graph(minilm, cora300, cache=EmbeddingCache(tmp_path / "a", shard_rows=SHARD_ROWS))
    cache = EmbeddingCache(tmp_path / "b", shard_rows=SHARD_ROWS)
    count_forwards(minilm, monkeypatch, fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        evaluate_graph(minilm, cora300, cache=cache)
    assert len(node_shards(tmp_path / "b")) == 2 and list(tmp_path.rglob("*.partial-*")) == []
    calls = count_forwards(minilm, monkeypatch)
    resumed = evaluate_graph(minilm, cora300, cache=EmbeddingCache(tmp_path / "b", shard_rows=SHARD_ROWS))
    distinct = len(set(cora300.texts))
    assert sum(calls) == distinct - 2 * SHARD_ROWS + 1 + cora300.num_classes
    assert torch.equal(resumed.logits, uninterrupted.logits) and resumed.settings == uninterrupted.settings


KILLED_ENCODE = """
import sys
import torch
from zerog_graph.cache import EmbeddingCache
from zerog_graph.models import load_model
model = load_model(sys.argv[1], dtype=torch.float32)
texts = open(sys.argv[3], encoding="utf-8").read().split("\\n")
EmbeddingCache(sys.argv[2], shard_rows=32).encode(model, texts, batch_size=16)
"""


@pytest.mark.slow
def test_encode_killed_with_sigkill_resumes(minilm, minilm_path, cora300, tmp_path, monkeypatch):
    """SIGKILL once two shards are written (often mid-write): the rerun keeps them, removes any partial file and
    encodes the rest only; the embeddings equal those of an uninterrupted run."""
    texts = [" ".join(text.split()) for text in cora300.texts]
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    repo = Path(__file__).parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-c", KILLED_ENCODE, minilm_path, str(tmp_path / "cache"), str(tmp_path / "texts.txt")]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(node_shards(tmp_path / "cache")) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    kept = len(node_shards(tmp_path / "cache"))
    assert 2 <= kept < len(set(texts)) // 32
    calls = count_forwards(minilm, monkeypatch)
    resumed = EmbeddingCache(tmp_path / "cache", shard_rows=32).encode(minilm, texts, batch_size=16)
    assert sum(calls) <= len(set(texts)) - 2 * 32 and list(tmp_path.rglob("*.partial-*")) == []
    monkeypatch.undo()
    assert torch.equal(resumed, EmbeddingCache(tmp_path / "whole", shard_rows=32).encode(minilm, texts, batch_size=16))


@pytest.mark.slow
def test_edited_and_added_texts_are_the_only_ones_encoded(minilm, cora300, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path, shard_rows=SHARD_ROWS)
    evaluate_graph(minilm, cora300, cache=cache)
    edited = cora300.subgraph(torch.arange(300))
    for node in (5, 50, 150):
        edited.texts[node] = edited.texts[node] + " (revised)"
    edited.texts += ["a new paper on graph neural networks", "a new paper on reinforcement learning"]
    edited.labels = torch.cat([edited.labels, torch.tensor([-1, -1])])
    calls = count_forwards(minilm, monkeypatch)
    result = evaluate_graph(minilm, edited, cache=cache)
    assert sum(calls) == 5 and result.num_scored == cora300.eval_mask.sum()


@pytest.mark.slow
def test_progress_bar_counts_what_was_already_done(minilm, cora300, tmp_path, monkeypatch, capsys):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    count_forwards(minilm, monkeypatch, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, shard_rows=SHARD_ROWS).encode(minilm, cora300.texts)
    capsys.readouterr()
    count_forwards(minilm, monkeypatch)
    EmbeddingCache(tmp_path, shard_rows=SHARD_ROWS).encode(minilm, cora300.texts, show_progress_bar=True)
    distinct = len(set(cora300.texts))
    assert f"{SHARD_ROWS}/{distinct}" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_encode_into_one_cache(minilm, minilm_path, tmp_path, monkeypatch):
    """`accelerate launch` with 2 processes: each writes its own shards; every process then reads all of them, and
    the embeddings are those of one process."""
    texts = [f"text number {i} about {'graphs' if i % 2 else 'databases'}" + " more" * i for i in range(37)]
    script = Path(__file__).with_name("shard_encode.py")
    result = launch_two_processes(script, minilm_path, tmp_path / "out.pt", f"--cache={tmp_path / 'c'}", *texts)
    assert result.returncode == 0, result.stderr[-3000:]
    sharded = torch.load(tmp_path / "out.pt", weights_only=True)
    assert sharded["num_processes"] == 2
    assert len(node_shards(tmp_path / "c")) >= 4  # 10 batches of 4: 5 per process, a shard per 8 texts
    assert torch.allclose(sharded["embeds"], minilm.encode(texts), atol=1e-5)
    calls = count_forwards(minilm, monkeypatch)
    again = EmbeddingCache(tmp_path / "c").rows(minilm, texts, model_fingerprint(minilm))
    assert calls == [] and torch.allclose(again.tensor(), sharded["embeds"])


def test_cosine_gradient_is_finite_where_a_propagated_vector_is_zero():
    """Identical nodes and prompt: every standardised vector is 0; the scores' gradient stays finite."""
    nodes = torch.ones(4, 6, requires_grad=True)
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
    scores = zerog_logits(nodes, torch.ones(1, 6), torch.randn(3, 6), edges, 2)
    scores.sum().backward()
    assert torch.isfinite(nodes.grad).all()


@pytest.mark.slow
def test_bad_kind_and_lone_surrogates_are_clear_errors(minilm, tmp_path):
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(ValueError, match="kind='nodes' is not one of"):
        cache.rows(minilm, ["a"], kind="nodes")
    with pytest.raises(ValueError, match=r"texts\[1\] is not a valid Unicode string"):
        cache.rows(minilm, ["a", "b\ud800"])
