"""The method's steps as seams: propagation rules, one scoring pipeline built once per graph, and folders saved by the
single-file code of before the split."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import configuration_zerog
import propagation_zerog
from modeling_zerog import ZeroGModel
from propagation_zerog import PROPAGATION_RULES, appnp_each, normalized_adjacency, propagate_each
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.graph import TextGraph
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "code_d27f98f"
TEXTS = [
    "Deep neural networks trained with backpropagation",
    "Query optimisation in relational databases",
    "Convolutional networks for image recognition",
    "Transaction processing and B-tree indexing",
    "Recurrent networks learn sequences",
]
EDGES = [(0, 2), (1, 3), (2, 4), (0, 4)]
CLASSES = ["machine learning", "databases"]


def small_graph() -> TextGraph:
    return TextGraph(
        texts=TEXTS,
        edge_index=torch.tensor(EDGES).T,
        labels=[0, 1, 0, 1, 0],
        label_names=CLASSES,
        description="papers in computer science",
    )


@pytest.mark.slow
def test_appnp_is_pyg_appnp_on_cora(data_dir):
    """`appnp_each` on the normalised A+I is PyG's `APPNP` (gcn_norm with self-loops), step for step, on Cora."""
    from torch_geometric.nn import APPNP

    graph = load_graph("cora")
    num_nodes = len(graph.texts)
    x = torch.randn(num_nodes, 16, generator=torch.Generator().manual_seed(0))
    adj = normalized_adjacency(graph.edge_index, num_nodes)
    ours = list(appnp_each(x, adj, (1, 3, 10), alpha=0.1))
    for steps, propagated in zip((1, 3, 10), ours):
        assert torch.allclose(propagated, APPNP(K=steps, alpha=0.1)(x, graph.edge_index), atol=1e-5)
    zerog = list(propagate_each(x, adj, (0, 3)))
    assert torch.equal(zerog[0], x) and not torch.allclose(zerog[1], ours[1], atol=1e-3)  # two rules, not one


@pytest.mark.slow
def test_a_registered_rule_reaches_classify_evaluate_auto_and_training(minilm, monkeypatch):
    """A new rule is a function and its registration; `classify`, `evaluate_graph` (and `auto`'s choice of R), and
    the training forward pass all propagate through it."""
    calls = []

    def no_propagation(x, adj, rounds):  # every R leaves the vectors as they are: R=0 of ZeroG's rule
        calls.append(tuple(rounds))
        yield from (x.to(adj.dtype) for _ in rounds)

    monkeypatch.setitem(PROPAGATION_RULES, "none", no_propagation)
    monkeypatch.setitem(configuration_zerog.PROPAGATIONS, "none", "no propagation")
    graph = small_graph()
    result = evaluate_graph(minilm, graph, num_rounds="auto", propagation="none", cache=False, with_cosines=True)
    assert result.settings["propagation"] == "none" and (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) in calls
    zero = evaluate_graph(minilm, graph, num_rounds=0, cache=False, with_cosines=True)
    assert torch.allclose(result.cosines, zero.cosines, atol=1e-6)  # no propagation at any R is ZeroG's R=0
    assert result.settings["num_rounds"] == 1  # nothing changes after round 0: auto's rule settles at once
    monkeypatch.setattr(minilm.config, "propagation", "none")
    calls.clear()
    classified = minilm.classify(TEXTS, EDGES, CLASSES, description=graph.description, num_rounds=3)
    assert calls == [(3,)] and torch.allclose(classified.scores, zero.cosines, atol=1e-6)
    batch = minilm.tokenize(TEXTS)
    labels = minilm.tokenize(CLASSES, kind="label")
    prompt = minilm.tokenize([graph.description], kind="description")
    calls.clear()
    minilm(
        **batch,
        edge_index=graph.edge_index,
        prompt_input_ids=prompt["input_ids"],
        prompt_attention_mask=prompt["attention_mask"],
        label_input_ids=labels["input_ids"],
        label_attention_mask=labels["attention_mask"],
    )
    assert calls == [(2,)]  # training subgraphs: SUBGRAPH_ROUNDS, through the config's rule


@pytest.mark.slow
def test_one_evaluation_builds_the_adjacency_and_statistics_once(minilm, monkeypatch):
    """`auto` (its R sweep and its collapse check), the scores and the cosines share one `PropagationGraph`."""
    counts = {"prompt_adjacency": 0, "graph_statistics": 0}
    for name in counts:
        original = getattr(propagation_zerog, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(propagation_zerog, name, counted)
    never_settles = (configuration_zerog.AUTO_ROUNDS, -1.0, configuration_zerog.AUTO_ROUNDS_COLLAPSE)
    monkeypatch.setattr(propagation_zerog.PropagationGraph.choose_rounds, "__defaults__", never_settles)
    graph = small_graph()
    result = evaluate_graph(minilm, graph, num_rounds="auto", cache=False, with_cosines=True)
    assert result.settings["auto_rounds"]["collapse"] is not None
    # the nodes' statistics and the label texts' own (ZeroG's label_statistics="labels"); d27f98f built 4 and 7
    assert counts == {"prompt_adjacency": 1, "graph_statistics": 2}


@pytest.mark.slow
def test_cli_propagation_appnp(minilm_path, tmp_path):
    """`--propagation appnp` is an option of `zerog eval`: it is recorded in the results and changes the scores."""
    folder = tmp_path / "papers"
    folder.mkdir()
    rows = "\n".join(f"p{i},{text},{CLASSES[i % 2]}" for i, text in enumerate(TEXTS))
    (folder / "nodes.csv").write_text("id,text,label\n" + rows + "\n")
    (folder / "edges.csv").write_text("source,target\n" + "\n".join(f"p{i},p{j}" for i, j in EDGES) + "\n")
    cosines = {}
    for rule in ("zerog", "appnp"):
        output = tmp_path / f"{rule}.json"
        command = [sys.executable, "-m", "zerog_graph", "eval", "--model", minilm_path, "--graph", str(folder)]
        command += [
            "--propagation",
            rule,
            "--rounds",
            "3",
            "--output",
            str(output),
            "--predictions",
            str(tmp_path / rule),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(output.read_text())["papers"]["settings"]["propagation"] == rule
        cosines[rule] = (tmp_path / rule / "papers.csv").read_text()
    assert cosines["zerog"] != cosines["appnp"]
    bad = subprocess.run(command[:-6] + ["--propagation", "pagerank"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--propagation" in bad.stderr and "appnp" in bad.stderr


@pytest.mark.slow
def test_a_folder_saved_by_the_single_file_code_loads_and_classifies_alike(minilm_path, tmp_path, monkeypatch):
    """A model saved by d27f98f's code (one modeling file) loads with today's code, and with its own copy under
    trust_remote_code, and both classify as it did, to the bit."""
    package = tmp_path / "zerog_d27f98f"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for source in FIXTURE.glob("*.py.txt"):
        shutil.copy(source, package / source.name.removesuffix(".txt"))
    monkeypatch.syspath_prepend(str(tmp_path))
    from zerog_d27f98f import modeling_zerog as old

    torch.manual_seed(0)
    model = old.ZeroGModel(old.ZeroGConfig(lm_name_or_path=minilm_path))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.1)  # an adapter that matters
    folder = tmp_path / "saved_by_d27f98f"
    model.save_pretrained(folder)
    assert sorted(path.name for path in folder.glob("*.py")) == ["configuration_zerog.py", "modeling_zerog.py"]
    before = model.eval().classify(TEXTS, EDGES, CLASSES, description="papers", num_rounds="auto")
    for trust_remote_code in (False, True):
        loaded = load_model(str(folder), trust_remote_code=trust_remote_code)
        assert (type(loaded) is ZeroGModel) is not trust_remote_code
        after = loaded.classify(TEXTS, EDGES, CLASSES, description="papers", num_rounds="auto")
        assert after.num_rounds == before.num_rounds and after.predicted_classes == before.predicted_classes
        assert torch.equal(after.scores, before.scores)
    for name in [name for name in sys.modules if name.startswith("zerog_d27f98f")]:
        monkeypatch.delitem(sys.modules, name)
