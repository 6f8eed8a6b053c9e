"""Bad input at every entry point gets a clear error naming the file, field, node or edge; odd but
valid input is accepted and normalised."""

import json
import logging
import re
import tempfile
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

import train_hf
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from tests.helpers import tiny_config
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import main as cli
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.graph import GraphError, TextGraph
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph

GOOD = {
    "texts": ["neural networks", "sql databases", "deep learning"],
    "edges": [[0, 2]],
    "labels": [0, 1, 0],
    "label_names": ["machine learning", "databases"],
    "description": "papers",
}


def write(path, data=None, raw: bytes = None):
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(data))
    return str(path)


def run_cli(capsys, *args) -> tuple:
    code = cli(["eval", *args])
    return code, capsys.readouterr().err


def pt_graph(**fields) -> Data:
    base = dict(
        raw_texts=["a", "b", "c"],
        y=torch.tensor([0, 1, 0]),
        edge_index=torch.tensor([[0], [1]]),
        label_name=["x", "y"],
    )
    base.update(fields)
    return Data(**{k: v for k, v in base.items() if v is not None})


def deep_json(depth: int = 200_000) -> bytes:
    return b'{"texts": ' + b"[" * depth + b"]" * depth + b"}"


BIG = 2**70
JSON_CASES = [
    # silently wrong before: refused now
    ({"directed": "false"}, r"directed must be true or false, got 'false'"),
    ({"texts": "abc"}, r"texts must be a list of strings, got str"),
    ({"label_names": "ab"}, r"label_names must be a list of strings, got str"),
    ({"label_texts": "ab"}, r"label_texts must be a list of strings, got str"),
    ({"labels": [0, True, 0]}, r"labels\[1\] \(node 1\) = True is bool, not int"),
    ({"labels": [0, 1.0, 0]}, r"labels\[1\] \(node 1\) = 1.0 is float, not int"),
    ({"labels": [0, "1", 0]}, r"labels\[1\] \(node 1\) = '1' is str, not int"),
    ({"edges": [[True, 2]]}, r"edges\[0\] = \[True, 2\] is not a pair of node indices"),
    ({"edges": [[0, 1], [1, 2.0]]}, r"edges\[1\] = \[1, 2.0\] is not a pair of node indices"),
    # tracebacks before: named errors now
    ({"texts": 3}, r"texts must be a list of strings, got int"),
    ({"labels": 3}, r"labels must be a list of integers, got int"),
    ({"edges": 3}, r"edges must be a list of \[i, j\] pairs, got int"),
    ({"edges": {"0": 1}}, r"edges must be a list of \[i, j\] pairs, got dict"),
    ({"description": None}, r"description must be a string, got NoneType"),
    ({"description": 7}, r"description must be a string, got int"),
    ({"label_texts": ["ml", None]}, r"label_texts\[1\] is NoneType, not str"),
    ({"label_texts": ["ml", 5]}, r"label_texts\[1\] is int, not str"),
    ({"name": None}, r"name must be a string, got NoneType"),
    ({"name": ["a"]}, r"name must be a string, got list"),
    ({"texts": [], "labels": [], "edges": []}, r"texts is empty; a graph needs at least one node"),
    # errors that named nothing before
    ({"labels": [0, BIG, 0]}, rf"labels\[1\] = {BIG} \(node 1\) is not in \[-1, 2\)"),
    ({"edges": [[0, BIG]]}, rf"edges\[0\] = \[0, {BIG}\] is out of range for 3 nodes"),
    ({"test_mask": ["yes", "no", "yes"]}, r"test_mask\[0\] = 'yes' is not true or false"),
    ({"test_mask": [True]}, r"test_mask has shape \(1,\), expected \(3,\)"),
    ({"texts": ["a", "b\ud800c", "c"]}, r"texts\[1\] \(node 1\) holds a lone surrogate at character 1"),
    ({"label_names": ["ml", "\udcff"]}, r"label_names\[1\] holds a lone surrogate"),
    ({"label_names": ["ml", "ml"]}, r"label_names names class 'ml' twice"),
    # as before
    ({"texts": [1, "b", "c"]}, r"texts\[0\] \(node 0\) is int, not str"),
    ({"texts": ["a", None, "c"]}, r"texts\[1\] \(node 1\) is NoneType, not str"),
    ({"edges": [[0, 9]]}, r"edges\[0\] = \[0, 9\] is out of range for 3 nodes"),
    ({"edges": [[-1, 0]]}, r"edges\[0\] = \[-1, 0\] is out of range"),
    ({"labels": [0, 2, 0]}, r"labels\[1\] = 2 \(node 1\) is not in \[-1, 2\)"),
    ({"label_names": None}, r"missing key\(s\) \['label_names'\]"),
    ({"texts": None}, r"missing key\(s\) \['texts'\]"),
]


@pytest.mark.parametrize("change, message", JSON_CASES)
def test_cli_rejects_bad_json_graphs(capsys, tmp_path, change, message):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None or k in ("description", "name")}
    if change.get("label_names", "") is None or change.get("texts", "") is None:
        data = {k: v for k, v in data.items() if v is not None}
    code, err = run_cli(capsys, "--model", "minilm", "--graph", write(tmp_path / "bad.json", data))
    assert code == 2
    assert re.search(rf"bad.json: {message}", err), err
    assert "Traceback" not in err


RAW_JSON_CASES = [
    (deep_json(), "JSON nested too deeply to read"),
    (b'{"texts": ["a"], "labels": [' + b"9" * 5000 + b"]}", r"not valid JSON \(Exceeds the limit"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (b"{nope", "not valid JSON"),
]


@pytest.mark.parametrize("raw, message", RAW_JSON_CASES, ids=["deep", "huge-int", "list", "syntax"])
def test_cli_rejects_unreadable_json(capsys, tmp_path, raw, message):
    code, err = run_cli(capsys, "--model", "minilm", "--graph", write(tmp_path / "bad.json", raw=raw))
    assert code == 2 and re.search(rf"bad.json: {message}", err), err


PT_CASES = [
    (dict(y=torch.tensor([0.0, 1.0, 0.7])), r"y is a torch.float32 tensor; expected integers"),
    (dict(y=torch.tensor([True, False, True])), r"y is a torch.bool tensor; expected integers"),
    (dict(edge_index=torch.tensor([[0.0], [1.5]])), r"edge_index is a torch.float32 tensor; expected integers"),
    (dict(y=None), r"the Data object has no 'y' field \(the class of each node\)"),
    (dict(edge_index=None), r"the Data object has no 'edge_index' field"),
    (dict(raw_texts=torch.tensor([1, 2, 3])), r"raw_texts is a Tensor; expected a list of strings"),
    (dict(raw_texts="abc"), r"raw_texts is a str; expected a list of strings"),
    (dict(test_mask=torch.tensor([1, 0, 1])), r"test_mask is a torch.int64 tensor; expected bool"),
    (dict(y=torch.tensor([0, 5, 0])), r"labels\[1\] = 5 \(node 1\) is not in \[-1, 2\)"),
]


@pytest.mark.parametrize("fields, message", PT_CASES)
def test_cli_rejects_bad_pt_graphs(capsys, tmp_path, fields, message):
    torch.save(pt_graph(**fields), tmp_path / "bad.pt")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", str(tmp_path / "bad.pt"))
    assert code == 2 and re.search(rf"bad.pt: {message}", err), err


CSV_CASES = [
    ("id,text,label\nn1,first,ML\nn2,second\n", [], r"nodes.csv:3: 2 field\(s\) where the header has 3"),
    ("id,text,label\nn1,first,ML,extra\n", [], r"nodes.csv:2: 4 field\(s\) where the header has 3"),
    ('id,text,label\nn1,first,ML\nn2,"never closed,DB\n', [], r"nodes.csv:\d+: unexpected end of data"),
    ("id,label\nn1,ML\n", [], r"nodes.csv: missing column\(s\) \['text'\]"),
    ("id,text\nn1,first\n", [], r"nodes.csv: no node has a label, so there are no class names; give them"),
    ("id,text,label\nn1,first,ML\nn1,again,DB\n", [], r"nodes.csv:3: duplicate node id 'n1'"),
    ("id,text,label\nn1,first,ML\nn2,second,Bio\n", ["--labels", "ML,DB"], r"nodes.csv:3: label 'Bio' is not one"),
]


@pytest.mark.parametrize("nodes, extra, message", CSV_CASES)
def test_cli_rejects_bad_csv_folders(capsys, tmp_path, nodes, extra, message):
    (tmp_path / "nodes.csv").write_text(nodes, encoding="utf-8")
    (tmp_path / "edges.csv").write_text("source,target\n", encoding="utf-8")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", str(tmp_path), *extra)
    assert code == 2 and re.search(message, err), err


def test_odd_but_valid_files_are_accepted(tmp_path):
    long_text = "word " * 40_000  # 200,000 characters, over csv's default field limit of 131,072
    nodes = f'id,text,label\nn1,"{long_text}",ML\nn2,"a, quoted\nmultiline text",\nn3,c,DB\n'
    (tmp_path / "nodes.csv").write_bytes(b"\xef\xbb\xbf" + nodes.encode("utf-8"))  # a spreadsheet's BOM
    (tmp_path / "edges.csv").write_bytes(b"\xef\xbb\xbfsource,target\nn1,n2\n")
    graph = load_graph(str(tmp_path))
    assert graph.texts == [long_text, "a, quoted\nmultiline text", "c"] and graph.node_ids == ["n1", "n2", "n3"]
    assert graph.label_names == ["DB", "ML"] and graph.labels.tolist() == [1, -1, 0]
    assert graph.edge_index.shape == (2, 2)
    with_names = load_graph(str(tmp_path), label_names=["ML", "DB", "AI"])
    assert with_names.label_names == ["ML", "DB", "AI"] and with_names.labels.tolist() == [0, -1, 1]
    bom_json = tmp_path / "bom.json"
    bom_json.write_bytes(b"\xef\xbb\xbf" + json.dumps({**GOOD, "directed": True}).encode("utf-8"))
    assert load_graph(str(bom_json)).edge_index.tolist() == [[0], [2]]  # directed kept one-way


OPTION_CASES = [
    (["--rounds", "-1"], r"argument --rounds: rounds must be an integer in \[0, 100\] or 'auto', got '-1'"),
    (["--rounds", "two"], r"argument --rounds: rounds must be an integer in \[0, 100\] or 'auto', got 'two'"),
    (["--rounds", "1000000000"], r"argument --rounds: rounds must be an integer in \[0, 100\]"),
    (["--batch-size", "0"], r"argument --batch-size: 0 is not positive"),
    (["--batch-size", "-1"], r"argument --batch-size: -1 is not positive"),
    (["--pooling", "max"], r"argument --pooling: invalid choice: 'max'"),
    (["--labels", "a,,b"], r"argument --labels: 'a,,b': empty class name"),
    (["--labels", "a,b,a"], r"argument --labels: 'a,b,a': names class 'a' twice"),
    (["--labels", "Cat,cat"], r"argument --labels: 'Cat,cat': names classes 'Cat' and 'cat', the same name once"),
    (["--labels", "missing.txt"], r"argument --labels: cannot read class names from missing.txt"),
]


@pytest.mark.parametrize("options, message", OPTION_CASES)
def test_cli_refuses_bad_options_at_parse_time(capsys, tmp_path, options, message):
    code, err = run_cli(capsys, "--model", "minilm", "--graph", write(tmp_path / "good.json", GOOD), *options)
    assert code == 2 and re.search(message, err), err


def unwritable_folder(tmp_path):
    """A folder this process cannot write in: a read-only one (not for root), else /sys where it is
    read-only."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            with tempfile.TemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    pytest.skip("no unwritable folder here (root, and /sys is writable)")


@pytest.mark.parametrize(
    "where, message",
    [
        (lambda t: ["--output", str(t / "missing" / "results.json")], r"--output .*: the folder .*missing does not"),
        (lambda t: ["--output", str(unwritable_folder(t) / "r.json")], r"--output: cannot write in .*"),
        (lambda t: ["--output", str(t)], r"--output .* is a folder; give a file name"),
        (lambda t: ["--predictions", write(t / "file.csv", {})], r"--predictions .*file.csv is a file, not a folder"),
        (lambda t: ["--predictions", str(unwritable_folder(t))], r"--predictions: cannot write in"),
        (lambda t: ["--labels", "a,b"], r"good.json: class names can be given only for a CSV folder"),
    ],
    ids=["missing-folder", "read-only", "folder", "predictions-file", "predictions-read-only", "labels-on-json"],
)
def test_cli_checks_outputs_before_loading_the_model(capsys, tmp_path, monkeypatch, where, message):
    import zerog_graph.models

    monkeypatch.setattr(zerog_graph.models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, err = run_cli(capsys, "--model", "minilm", "--graph", write(tmp_path / "good.json", GOOD), *where(tmp_path))
    assert code == 2 and re.search(message, err), err


def test_cli_passes_trust_remote_code_only_when_asked(capsys, tmp_path, monkeypatch):
    import zerog_graph.models

    seen = []

    def spy(name, **kwargs):
        seen.append(kwargs["trust_remote_code"])
        raise ValueError("stop here")

    monkeypatch.setattr(zerog_graph.models, "load_model", spy)
    graph = write(tmp_path / "good.json", GOOD)
    assert run_cli(capsys, "--model", "minilm", "--graph", graph)[0] == 2
    assert run_cli(capsys, "--model", "minilm", "--graph", graph, "--trust-remote-code")[0] == 2
    assert seen == [False, True]


def test_cli_rejects_non_utf8_and_pickles(capsys, tmp_path):
    code, err = run_cli(
        capsys,
        "--model",
        "minilm",
        "--graph",
        write(tmp_path / "latin1.json", raw='{"texts": ["caf\u00e9"]}'.encode("latin-1")),
    )
    assert code == 2 and "latin1.json: not UTF-8" in err

    class Payload:
        def __reduce__(self):
            return (print, ("never",))

    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", str(tmp_path / "evil.pt"))
    assert code == 2 and "evil.pt: refused by torch.load(weights_only=True)" in err


def test_cli_rejects_missing_backbone_and_existing_output(capsys, tmp_path):
    graph = write(tmp_path / "good.json", GOOD)
    code, err = run_cli(capsys, "--model", str(tmp_path / "no-such-model"), "--graph", graph)
    assert code == 2 and "no-such-model" in err and "neither a local folder nor reachable" in err
    (tmp_path / "results.json").write_text("{}")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", graph, "--output", str(tmp_path / "results.json"))
    assert code == 2 and "results.json already exist(s); pass --overwrite" in err
    assert (tmp_path / "results.json").read_text() == "{}"


@pytest.mark.slow
def test_lora_target_that_matches_nothing(tiny_backbones, data_dir, tmp_path):
    with pytest.raises(ValueError, match="nope"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["llama"], lora_target_modules=["nope"]))
    with pytest.raises(ValueError, match="nope"):
        train_hf.main(
            [
                "--model_name_or_path",
                tiny_backbones["llama"],
                "--source_graphs",
                "cora",
                "--output_dir",
                str(tmp_path / "run"),
                "--lora_target_modules",
                "nope",
                "--use_cpu",
                "--report_to",
                "none",
            ]
        )


@pytest.mark.slow
def test_architecture_missing_from_the_table_falls_back(tmp_path, caplog, smollm2_path):
    from transformers import AutoTokenizer, Phi3Model

    Phi3Model(tiny_config("phi3", vocab_size=49152)).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(smollm2_path).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = ZeroGModel(ZeroGConfig(lm_name_or_path=str(tmp_path)))
    assert "No LoRA targets known for architecture 'phi3'; using 'all-linear'" in caplog.text
    targets = {name.split(".")[-1] for name in model.lm.peft_config["default"].target_modules}
    assert targets == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}  # every linear layer
    assert model.encode(["a text"]).shape == (1, 64)


def test_odd_but_valid_input_is_accepted(minilm_path, tmp_path):
    model = load_model(minilm_path)
    long_text = "graph " * 100_000
    graph = TextGraph(
        texts=["", long_text, "databases", "neural nets"],
        edge_index=torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1]]),  # a self-loop and a duplicate
        labels=[0, 0, 1, 0],
        label_names=["machine learning", "databases"],
    )
    assert graph.edge_index.tolist() == [[0, 1], [1, 0]]
    assert model.tokenize([long_text])["input_ids"].shape[1] == model.max_length
    result = evaluate_graph(model, graph, cache=EmbeddingCache(tmp_path))
    assert torch.isfinite(result.logits).all()
    no_edges = TextGraph(
        texts=["neural nets", "databases"],
        edge_index=torch.empty(2, 0, dtype=torch.long),
        labels=[0, 1],
        label_names=["machine learning", "databases"],
    )
    assert evaluate_graph(model, no_edges, cache=EmbeddingCache(tmp_path)).num_scored == 2


@pytest.mark.slow
def test_empty_text_on_a_decoder_without_bos_still_has_a_token(smollm2_path):
    model = load_model(smollm2_path, template="")
    batch = model.tokenize(["", "hello"])
    assert batch["attention_mask"].sum(1).tolist() == [1, 1]
    assert batch["input_ids"][0, -1] == model.tokenizer.eos_token_id


@pytest.mark.slow
def test_same_seed_same_accuracy_and_adapter(minilm_path, data_dir, tmp_path):
    args = [
        "--model_name_or_path",
        "minilm",
        "--source_graphs",
        "cora",
        "--num_subgraphs",
        "20",
        "--max_nodes",
        "6",
        "--max_seq_length",
        "32",
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--use_cpu",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--seed",
        "3",
        "--target_graphs",
        write(tmp_path / "toy.json", GOOD),
    ]
    first = train_hf.main(args + ["--output_dir", str(tmp_path / "a")])
    second = train_hf.main(args + ["--output_dir", str(tmp_path / "b")])
    assert first == second and list(first) == ["toy"]
    assert all(isinstance(first["toy"][when]["accuracy"], float) for when in ("before", "after"))
    from safetensors.torch import load_file

    a, b = (
        load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors"),
        load_file(tmp_path / "b" / "adapter" / "adapter_model.safetensors"),
    )
    assert any(a[k].any() for k in a if "lora_B" in k)  # trained (B starts at zero), so the equality says something
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_train_hf_names_the_bad_file_before_anything_is_written(tmp_path):
    """train_hf.py maps the error to exit 2 without a traceback (tests/test_training.py: the exit codes)."""
    bad = write(tmp_path / "bad_source.json", {**GOOD, "labels": [0, 7, 0]})
    args = ["--model_name_or_path", "minilm", "--source_graphs", bad, "--output_dir", str(tmp_path / "run")]
    with pytest.raises(GraphError, match=re.escape("bad_source.json: labels[1] = 7 (node 1)")):
        train_hf.main(args + ["--use_cpu", "--report_to", "none"])
    assert not (tmp_path / "run").exists()
