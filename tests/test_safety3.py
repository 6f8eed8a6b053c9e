"""Issue 27: inputs that were accepted but meant something else, refused runs that left folders, the Python API's
checks, first runs that race, training that saved what it should refuse. Each test fails without its fix;
docs/safety.md states the rules they check."""

import argparse
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import train_hf
from hub_zerog import check_folder_symlinks, check_module_names, read_hub_json
from propagation_zerog import normalized_adjacency, zerog_logits
from tests import test_safety
from zerog_graph.cli import class_names
from zerog_graph.cli import main as cli
from zerog_graph.evaluate import evaluate_graph, macro_f1, score
from zerog_graph.graph import GraphError, TextGraph
from zerog_graph.io import load_csv, load_json, load_pt
from zerog_graph.models import load_model
from zerog_graph.trainer import check_checkpoint

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Graph neural networks for citation data.", "A recipe for bread with flour and yeast.", "Query plans."]
GRAPH = {"texts": TEXTS, "edges": [[0, 1]], "labels": [0, 1, 0], "label_names": ["learning", "cooking"]}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "zerog-cache"))


def csv_folder(tmp_path: Path, nodes: str, edges: str = "source,target\nn1,n2\n") -> Path:
    folder = tmp_path / "g"
    folder.mkdir(exist_ok=True)
    (folder / "nodes.csv").write_text(nodes)
    (folder / "edges.csv").write_text(edges)
    return folder


def graph(**changes) -> TextGraph:
    fields = dict(texts=TEXTS, edge_index=[[0], [1]], labels=[0, 1, 0], label_names=["learning", "cooking"])
    return TextGraph(**{**fields, **changes})


# --- inputs accepted that meant something else --------------------------------------------------------------


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    folder = csv_folder(tmp_path, "id,text,label,text\nn1,a,x,b\nn2,c,y,d\n")
    with pytest.raises(GraphError, match=r"nodes.csv: the header names column 'text' twice"):
        load_csv(folder / "nodes.csv", folder / "edges.csv")
    folder = csv_folder(tmp_path, "id,text,label\nn1,a,x\nn2,c,y\n", "source,target,target\nn1,n2,n1\n")
    with pytest.raises(GraphError, match=r"edges.csv: the header names column 'target' twice"):
        load_csv(folder / "nodes.csv", folder / "edges.csv")


def test_labels_that_name_a_missing_file_or_one_class_are_refused(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match=r"labls.txt: no such file"):
        class_names(str(tmp_path / "labls.txt"))
    with pytest.raises(argparse.ArgumentTypeError, match=r"classes: no such file"):
        class_names("classes")
    one = tmp_path / "one.txt"
    one.write_text("birds\n\n")
    with pytest.raises(argparse.ArgumentTypeError, match=r"one class name \('birds'\)"):
        class_names(str(one))
    with pytest.raises(GraphError, match=r"label_names has one class \('x'\)"):
        graph(labels=[0, 0, -1], label_names=["x"])
    assert class_names("a,b") == ["a", "b"]


def test_a_json_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "g.json"
    text = json.dumps(GRAPH)
    path.write_text(text[:-1] + ', "labels": [-1, -1, -1]}')
    with pytest.raises(GraphError, match=r"g.json: not valid JSON \(key 'labels' is given twice"):
        load_json(path)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "zerog", "num_rounds": 2, "num_rounds": 100}')
    with pytest.raises(ValueError, match=r"config.json: not valid JSON \(key 'num_rounds' is given twice"):
        read_hub_json(str(folder), "config.json", dict)


def test_a_pandas_missing_value_label_is_refused(tmp_path):
    folder = csv_folder(tmp_path, "id,text,label\nn1,a,ML\nn2,b,nan\nn3,c,DB\n")
    with pytest.raises(GraphError, match=r"nodes.csv:3: label 'nan' is how pandas writes a missing value"):
        load_csv(folder / "nodes.csv", folder / "edges.csv")
    given = load_csv(folder / "nodes.csv", folder / "edges.csv", label_names=["ML", "DB", "nan"])
    assert given.labels.tolist() == [0, 2, 1]  # a class named nan, given on purpose


def test_accuracy_is_an_exact_fraction():
    scored = graph(labels=[0, 1, 1])
    accuracy, _, num_scored = score(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), scored)
    assert num_scored == 3 and type(accuracy) is float and accuracy == 2 / 3


def test_macro_f1_averages_the_classes_that_occur():
    offered = graph(labels=[0, 1, 0], label_names=["learning", "cooking", "databases"])
    logits = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0]])
    accuracy, f1, _ = score(logits, offered)
    assert accuracy == 1.0 and f1 == 1.0  # was 2/3: the class no node has counted as F1 = 0
    truth = torch.tensor([0, 0, 1, 1, 2, 2, 2, 4])
    predicted = torch.tensor([0, 1, 1, 1, 3, 2, 0, 4])
    value, classes = macro_f1(truth, predicted, 6)
    f1s = {0: 2 * 1 / (2 + 2), 1: 2 * 2 / (2 + 3), 2: 2 * 1 / (3 + 1), 3: 0.0, 4: 1.0}  # 2 TP / (true + predicted)
    assert classes == [0, 1, 2, 3, 4] and value == pytest.approx(sum(f1s.values()) / 5, abs=1e-15)


def test_class_names_equal_but_for_invisible_characters_are_refused():
    for twin in ("c\u200bat", "c\u00adat", "\u200ecat", "cat\u2060"):
        with pytest.raises(GraphError, match=r"names classes 'cat' and "):
            graph(label_names=["cat", twin])


def test_a_directed_edge_goes_from_source_to_target():
    """PyG's convention: in `[i, j]`, the target `j` aggregates from the source `i`, not the reverse."""
    adj = normalized_adjacency(torch.tensor([[0], [1]]), 2).to_dense()
    assert adj[1, 0] > 0 and adj[0, 1] == 0


# --- the Python API checks what the CLI checks --------------------------------------------------------------

FAKE_MODEL = SimpleNamespace(config=SimpleNamespace(num_rounds=2, standardize=True, label_statistics="labels"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_rounds=-1), r"num_rounds must be an integer in \[0, 100\]"),
        (dict(num_rounds=10**6), r"num_rounds must be an integer in \[0, 100\]"),
        (dict(standardize="no"), r"standardize must be True or False, got 'no'"),
        (dict(label_statistics="all"), r"label_statistics must be one of"),
        (dict(batch_size=0), r"batch_size must be a positive integer"),
        (dict(cache="no"), r"cache must be an EmbeddingCache, None \(the default one\) or False"),
    ],
)
def test_evaluate_graph_checks_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_graph(FAKE_MODEL, graph(), **kwargs)


def test_a_graph_changed_after_it_was_built_is_refused():
    changed = graph()
    changed.edge_index = torch.tensor([[0], [9]])
    with pytest.raises(GraphError, match=r"edge 0 \[0, 9\] is out of range for 3 nodes"):
        evaluate_graph(FAKE_MODEL, changed)
    changed = graph()
    changed.edge_index = torch.tensor([[-1], [0]])
    with pytest.raises(GraphError, match=r"edge 0 \[-1, 0\] is out of range"):
        evaluate_graph(FAKE_MODEL, changed)
    changed = graph()
    changed.labels = torch.tensor([0, 2, 0])
    with pytest.raises(GraphError, match=r"labels\[1\] = 2 \(node 1\) is not in \[-1, 2\)"):
        evaluate_graph(FAKE_MODEL, changed)
    nodes, prompt, labels = torch.randn(7, 4), torch.randn(1, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match=r"edge 0 \[0, 9\] is out of range for 7 nodes"):
        zerog_logits(nodes, prompt, labels, torch.tensor([[0], [9]]), 2)


# --- files small on disk and huge in memory -------------------------------------------------------------------


def test_a_pt_file_that_inflates_far_beyond_its_size_is_refused(tmp_path):
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (64 * 2**20))
    assert path.stat().st_size < 2**20
    with pytest.raises(GraphError, match=r"bomb.pt: its zip entries inflate to 67,108,864 bytes"):
        load_pt(path)


# --- refused means nothing written ----------------------------------------------------------------------------


def write_graph(tmp_path: Path) -> str:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(GRAPH))
    return str(path)


def test_a_refused_run_creates_no_output_folder(tmp_path, capsys):
    predictions = tmp_path / "out" / "nested"
    code = cli(["predict", "--model", str(tmp_path / "no-such-model"), "--graph", write_graph(tmp_path),
                "--output", str(predictions)])  # fmt: skip
    assert code == 2 and not (tmp_path / "out").exists(), capsys.readouterr().err


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    graph_path, model = write_graph(tmp_path), str(tmp_path / "no-such-model")  # checked before the model loads
    long_name = tmp_path / ("r" * 260 + ".json")  # 240 characters are written (test_safety4)
    code = cli(["eval", "--model", model, "--graph", graph_path, "--output", str(long_name)])
    err = capsys.readouterr().err
    assert code == 2 and "the file name is too long" in err and "no-such-model" not in err, err
    (tmp_path / "preds" / "g.csv").mkdir(parents=True)
    code = cli(
        ["eval", "--model", model, "--graph", graph_path, "--predictions", str(tmp_path / "preds"), "--overwrite"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "g.csv is a folder, where an output file would be written" in err, err
    (tmp_path / "file").write_text("")
    code = cli(["predict", "--model", model, "--graph", graph_path, "--output", str(tmp_path / "file" / "sub")])
    err = capsys.readouterr().err
    assert code == 2 and "file is a file, not a folder" in err, err


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried"),
        MemoryError(),
    ],
)
def test_out_of_memory_is_one_line_suggesting_a_smaller_batch(tmp_path, capsys, monkeypatch, error):
    def run_eval(args):
        raise error

    monkeypatch.setattr("zerog_graph.cli.run_eval", run_eval)
    code = cli(["eval", "--model", "m", "--graph", write_graph(tmp_path), "--batch-size", "512"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "give a smaller --batch-size (e.g. 128)" in err, err


# --- training: what it saves, where it writes -----------------------------------------------------------------


tiny_bert = test_safety.tiny_bert  # the fixture: a 2-layer random BERT with MiniLM's tokenizer


def train_args(model, output_dir, *extra):
    return ["--model_name_or_path", model, "--source_graphs", "cora", "--output_dir", str(output_dir),
            "--num_subgraphs", "8", "--max_nodes", "6", "--max_seq_length", "32", "--report_to", "none", "--use_cpu",
            "--eval_strategy", "no", "--save_strategy", "no", "--disable_tqdm", "true", *extra]  # fmt: skip


@pytest.mark.slow
def test_a_run_that_diverges_between_logging_steps_saves_nothing(data_dir, tiny_bert, tmp_path):
    output = tmp_path / "run"
    args = train_args(tiny_bert, output, "--learning_rate", "inf", "--max_steps", "3", "--logging_steps", "10")
    with pytest.raises(ValueError, match=r"lora_.* holds NaN or infinite values at step 3, before saving"):
        train_hf.main(args)
    assert not (output / "adapter").exists() and not (output / "config.json").exists()


def test_an_output_dir_that_is_holds_or_lies_inside_the_input_model_is_refused(tiny_bert, tmp_path):
    for output, how in (
        (tiny_bert, "is"),
        (Path(tiny_bert) / "sub", "lies inside"),
        (Path(tiny_bert).parent, "holds"),
    ):
        with pytest.raises(ValueError, match=rf"--output_dir .* {how} the model trained from \(--model_name_or_path"):
            train_hf.main(train_args(tiny_bert, output, "--overwrite_output", "true"))
    assert sorted(p.name for p in Path(tiny_bert).iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    )


def test_a_saved_models_backbone_folder_is_an_input_too(tiny_bert, tmp_path):
    saved = tmp_path / "zerog"
    saved.mkdir()
    (saved / "config.json").write_text(json.dumps({"model_type": "zerog", "lm_name_or_path": tiny_bert}))
    with pytest.raises(ValueError, match=r"--output_dir .* is the model trained from \(the lm_name_or_path of"):
        train_hf.main(train_args(str(saved), tiny_bert, "--overwrite_output", "true"))


def test_an_output_dir_is_claimed_for_one_run(data_dir, tmp_path):
    output = tmp_path / "run"
    model_args, data_args, training_args = train_hf.parse_arguments(train_args("minilm", output))
    with train_hf.claimed(model_args, data_args, training_args):
        with pytest.raises(ValueError, match=r"--output_dir .*run: another run is writing into it"):
            train_hf.main(train_args("minilm", output))
        assert (output / train_hf.OUTPUT_LOCK).exists()
    assert not output.exists()  # created by the claim, left empty: removed
    with pytest.raises(GraphError, match=r"'no-such-graph' is neither a file nor a known graph"):
        train_hf.main(train_args("minilm", output, "--source_graphs", "no-such-graph"))
    assert not output.exists()  # a refused run leaves no folder


# --- a model folder's adapter config is checked before peft builds anything ------------------------------------

saved = test_safety.saved  # the fixture: a saved ZeroG model on the tiny BERT, with its LoRA adapter


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(target_modules="(query|value)+"), r"target_modules '\(query\|value\)\+' is not a list of module names"),
        (dict(target_modules="^(a|a?)+$"), r"target_modules .* is not a list of module names nor a regular expr"),
        (dict(target_modules=["query", "va lue"]), r"target_modules must list at most 4096 module names; 'va lue'"),
        (dict(r=50_000), r"r must be an integer in \[1, 1024\], got 50000"),
        (dict(rank_pattern={"query": 10**6}), r"rank_pattern\['query'\] must be an integer in \[1, 1024\]"),
        (dict(layer_replication=[[0, 2]] * 6000), r"layer_replication must be \[start, end\] pairs building at most"),
        (dict(peft_type="PROMPT_TUNING"), r"peft_type 'PROMPT_TUNING'; a ZeroG adapter is a LoRA adapter"),
        (dict(task_type="CAUSAL_LM"), r"task_type 'CAUSAL_LM'; a ZeroG adapter is FEATURE_EXTRACTION"),
    ],
    ids=["regex", "pathological", "name", "rank", "rank-pattern", "replication", "prompt-tuning", "task"],
)
def test_an_adapter_config_beyond_the_limits_is_refused_before_peft_builds(saved, tmp_path, changes, message):
    folder = tmp_path / "model"
    shutil.copytree(saved[0], folder)
    config = folder / "adapter" / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **changes}))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"adapter_config.json: " + message):
        load_model(str(folder))
    assert time.perf_counter() - start < 30
    checkpoint = tmp_path / "run" / "checkpoint-1"
    shutil.copytree(folder / "adapter", checkpoint / "adapter")
    (checkpoint / "trainer_state.json").write_text("{}")
    with pytest.raises(ValueError, match=r"adapter_config.json: " + message):
        check_checkpoint(checkpoint)


def test_safe_regular_expressions_of_module_names_are_accepted():
    for value in (["query", "value"], r".*\.(query|value)$", "all-linear", r"encoder\.layer\.0\..*"):
        check_module_names(value, "target_modules", "adapter_config.json")


def test_a_saved_model_naming_the_root_as_its_backbone_is_refused_at_once(saved, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(saved[0], folder)
    config = folder / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "lm_name_or_path": "/"}))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"model/config.json: lm_name_or_path '/' names the folder /, which holds no"):
        load_model(str(folder))
    assert time.perf_counter() - start < 5
    monkeypatch.setattr("hub_zerog.MAX_FOLDER_ENTRIES", 3)
    with pytest.raises(ValueError, match=r"model holds over 3 files and folders: not a model folder"):
        check_folder_symlinks(str(folder))


# --- first runs at the same time ---------------------------------------------------------------------------------


def test_two_first_wordnet_builds_at_once_leave_one_graph_and_nothing_partial(tmp_path, monkeypatch):
    """The second build runs while the first has written its file but not yet published it."""
    from zerog_graph import wordnet

    small = {**GRAPH, "label_names": ["learning", "cooking"], "name": "wordnet"}
    monkeypatch.setattr(wordnet, "build_wordnet", lambda num_nodes: small)
    write_text, calls = Path.write_text, []

    def write_then_race(self, *args, **kwargs):
        result = write_text(self, *args, **kwargs)
        calls.append(self)
        if len(calls) == 1:
            wordnet.load_wordnet(5)
        return result

    monkeypatch.setattr(Path, "write_text", write_then_race)
    assert wordnet.load_wordnet(5).texts == TEXTS
    assert [p.name for p in (tmp_path / "zerog-cache" / "data").iterdir()] == ["wordnet-nouns-5.json"]
    assert len(calls) == 2 and calls[0] != calls[1]  # each build wrote its own private file


def test_two_first_smollm2_conversions_at_once_leave_one_folder_and_nothing_partial(tmp_path, monkeypatch):
    """The second conversion runs while the first is saving; the GGUF loaders are stand-ins."""
    from zerog_graph import backbones

    saves = []

    class Saved:
        hf_quantizer = SimpleNamespace(remove_quantization_config=lambda model: None)

        def __init__(self, filename):
            self.filename = filename

        def save_pretrained(self, folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / self.filename).write_text("{}")
            saves.append(Path(folder))
            if len(saves) == 1:
                backbones.smollm2_dir()

    monkeypatch.setattr(backbones, "_package_dir", lambda name: tmp_path / "package")
    monkeypatch.setattr("transformers.AutoModel.from_pretrained", lambda *a, **k: Saved("model.safetensors"))
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", lambda *a, **k: Saved("tokenizer.json"))
    target = backbones.smollm2_dir()
    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors", "tokenizer.json"]
    assert [p.name for p in target.parent.iterdir()] == ["SmolLM2-135M-Instruct"]


# --- an unseen target is unseen --------------------------------------------------------------------------------


def test_a_target_that_is_a_source_changed_a_little_is_refused():
    texts = [f"paper {i} about topic {i % 3}" for i in range(12)]
    edges = [[i for i in range(11)], [i + 1 for i in range(11)]]
    source = graph(texts=texts, edge_index=edges, labels=[i % 2 for i in range(12)])
    hidden = graph(texts=texts, edge_index=edges, labels=[i % 2 if i < 6 else -1 for i in range(12)])
    edited = graph(texts=["another text"] + texts[1:], edge_index=edges, labels=[i % 2 for i in range(12)])
    half = graph(texts=[t.upper() for t in texts[:6]] + [f"new {i}" for i in range(6)], edge_index=[[0], [1]],
                 labels=[0] * 12)  # fmt: skip
    other = graph(texts=[f"new {i}" for i in range(12)], edge_index=[[0], [1]], labels=[0] * 12)
    data_args = train_hf.DataArguments(source_graphs=["source"], target_graphs=["target"])
    for target, how in ((hidden, "edges over"), (edited, "edges over"), (half, r"node texts \(50% of its 12")):
        with pytest.raises(ValueError, match=rf"target 'target' has the same {how}"):
            train_hf.check_graphs(data_args, [source], [target])
    train_hf.check_graphs(data_args, [source], [other])


# --- errors in one line, naming what is at fault -----------------------------------------------------------------


def test_a_backbone_that_needs_its_own_code_is_refused_in_one_line_without_a_hub_url(tmp_path):
    folder = tmp_path / "qwen"
    folder.mkdir()
    config = {"model_type": "qwen", "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig"}}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as refused:
        load_model(str(folder))
    message = str(refused.value)
    assert "hf.co" not in message and "\n" not in message and "qwen/config.json auto_map" in message, message


def test_a_template_too_long_for_max_length_is_named_in_a_short_line(minilm_path):
    from transformers import AutoTokenizer

    from tokenization_zerog import tokenize_texts

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    names = ", ".join(f"class number {i}" for i in range(302))
    with pytest.raises(ValueError, match=r"leaves no room for text inside template") as refused:
        tokenize_texts(tokenizer, ["a text"], f"Categories: {names}. Text: {{text}}", max_length=64)
    assert len(str(refused.value)) < 400 and "characters)" in str(refused.value)


def test_a_malformed_wordnet_file_is_named_with_its_line(tmp_path):
    from zerog_graph.wordnet import build_wordnet

    (tmp_path / "data.noun").write_text("  licence\n00001740 03 n 01 entity 0 000 | a thing\n00001741 03 n\n")
    with pytest.raises(GraphError, match=r"data.noun:3: not a line of WordNet's data format"):
        build_wordnet(wordnet_dir=tmp_path)
    (tmp_path / "data.noun").write_text("00001740 99 n 01 entity 0 000 | a thing\n")
    with pytest.raises(GraphError, match=r"data.noun: synset 00001740 is in lexicographer file 99, not a noun file"):
        build_wordnet(wordnet_dir=tmp_path)


def test_a_csv_folder_whose_name_is_not_utf8_is_read(tmp_path):
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    (folder / "nodes.csv").write_text("id,text,label\nn1,a,ML\nn2,b,DB\n")
    (folder / "edges.csv").write_text("source,target\nn1,n2\n")
    loaded = load_csv(folder / "nodes.csv", folder / "edges.csv")
    assert loaded.name == "caf\ufffd" and loaded.labels.tolist() == [1, 0]


# --- own round: what else was accepted and meant something else ---------------------------------------------------


def test_node_ids_equal_but_for_spaces_or_leading_zeros_are_refused(tmp_path):
    for ids, second in ((("n1", " n1"), "' n1'"), (("7", "007"), "'007'")):
        folder = csv_folder(tmp_path, f"id,text,label\n{ids[0]},a,ML\n{ids[1]},b,DB\n", "source,target\n")
        with pytest.raises(GraphError, match=rf"nodes.csv:3: node id {second} differs from node id"):
            load_csv(folder / "nodes.csv", folder / "edges.csv")


def test_a_json_key_one_letter_from_a_field_is_refused(tmp_path):
    path = tmp_path / "g.json"
    for typo, field in (("direct", "directed"), ("label_text", "label_texts"), ("test_masks", "test_mask")):
        path.write_text(json.dumps({**GRAPH, typo: True}))
        with pytest.raises(GraphError, match=rf"key '{typo}' is not read \(did you mean '{field}'\?\)"):
            load_json(path)
    path.write_text(json.dumps({**GRAPH, "num_edges": 1, "license_note": "CC", "source": "x"}))  # metadata
    assert load_json(path).num_nodes == 3


def test_other_fields_changed_after_construction_are_refused():
    for field_name, value, message in (
        ("test_mask", torch.tensor([1, 0, 1]), r"test_mask must be a bool tensor"),
        ("node_ids", ["a", "b"], r"node_ids has 2 entries, expected 3"),
        ("label_texts", ["only one"], r"label_texts has 1 entries, expected 2"),
    ):
        changed = graph()
        setattr(changed, field_name, value)
        with pytest.raises(GraphError, match=message):
            evaluate_graph(FAKE_MODEL, changed)


@pytest.mark.slow
def test_a_save_that_fails_leaves_no_half_written_model(data_dir, tiny_bert, tmp_path, monkeypatch):
    def too_large(*args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr("transformers.PreTrainedTokenizerBase.save_pretrained", too_large)
    output = tmp_path / "run"
    with pytest.raises(OSError, match=r"run: the model cannot be saved \(\[Errno 27\] File too large\)"):
        train_hf.main(train_args(tiny_bert, output, "--max_steps", "1"))
    assert not output.exists() or not any(output.iterdir()), list(output.iterdir())


@pytest.mark.slow
def test_sigterm_during_training_leaves_no_claimed_folder(data_dir, tiny_bert, tmp_path):
    output = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", ZEROG_DATA=str(data_dir))
    args = train_args(tiny_bert, output, "--max_steps", "100000")
    process = subprocess.Popen([sys.executable, str(REPO / "train_hf.py"), *args], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (output / train_hf.OUTPUT_LOCK).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.decode().endswith("train_hf.py: interrupted\n"), err.decode()[-2000:]
    assert not output.exists()
