"""The user surface: a model that classifies a graph on its own, strict arguments, `device`, pushing to the Hub,
what a result holds, PyG `Data` wherever a graph goes, a graph's description and label texts, the CLI table."""

import json
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

import modeling_zerog
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from zerog_graph import MODEL_CODE, GraphError, TextGraph, evaluate_graph, from_pyg, load_graph, load_model, to_pyg
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import format_table
from zerog_graph.cli import main as cli
from zerog_graph.trainer import card_body

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "Deep neural networks trained with backpropagation",
    "Query optimisation in relational databases",
    "Convolutional networks for image recognition",
    "Transaction processing and B-tree indexing",
    "A survey of learned index structures",
]
NAMES = ["machine_learning", "databases"]
LABEL_TEXTS = ["Machine learning: models that learn from data.", "Databases: storing and querying data."]


def papers(**fields) -> TextGraph:
    return TextGraph(
        texts=TEXTS,
        edge_index=torch.tensor([[0, 1, 3], [2, 3, 4]]),
        labels=[0, 1, 0, 1, -1],
        label_names=NAMES,
        **fields,
    )


@pytest.fixture(scope="module")
def saved_lora(tmp_path_factory, minilm_path):
    """A trained-looking ZeroG model on the packaged MiniLM (its config names the Hub id), saved."""
    torch.manual_seed(0)
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=MINILM), lm_path=minilm_path)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.05)
    folder = tmp_path_factory.mktemp("api") / "zerog-api"
    model.save_pretrained(folder)
    return model.eval(), folder


# --- ZeroGModel.classify --------------------------------------------------------------------------------


@pytest.mark.slow
def test_classify_gives_what_evaluate_graph_gives(minilm, tmp_path):
    graph = papers(description="Computer science papers.", label_texts=LABEL_TEXTS)
    result = evaluate_graph(minilm, graph, "auto", cache=EmbeddingCache(tmp_path), with_cosines=True)
    one_way = [(0, 2), (1, 3), (3, 4)]  # made two-way, as a file's undirected edges are
    out = minilm.classify(TEXTS, one_way, NAMES, "Computer science papers.", LABEL_TEXTS, num_rounds="auto")
    assert out.num_rounds == result.settings["num_rounds"]
    assert torch.equal(out.predictions, result.predictions)
    assert out.predicted_classes == result.predicted_classes == [NAMES[i] for i in result.predictions.tolist()]
    assert torch.allclose(out.scores, result.cosines, atol=1e-4)  # the cosines, as the predictions CSV has them
    assert out.class_names == NAMES
    again = minilm.classify(TEXTS, graph.edge_index, NAMES, "Computer science papers.", LABEL_TEXTS, num_rounds=2)
    assert again.num_rounds == 2 and again.scores.shape == (5, 2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, message",
    [
        ({"texts": "one string"}, "texts must be a list of strings, got str"),
        ({"edge_index": [(0, 9)]}, r"edge 0 \[0, 9\] is out of range for 5 nodes"),
        ({"edge_index": [(0, 1, 2)]}, r"edge_index\[0\] = \(0, 1, 2\) is not a pair"),
        ({"edge_index": torch.zeros(2, 1)}, "float32 tensor"),
        ({"label_texts": ["one"]}, "label_texts has 1 entries for 2 classes"),
        ({"num_rounds": -1}, "num_rounds must be an integer"),
        ({"class_names": []}, "at least one node and one class"),
    ],
)
def test_classify_refuses_bad_input_naming_it(minilm, change, message):
    arguments = {"texts": TEXTS, "edge_index": [(0, 2)], "class_names": NAMES, **change}
    with pytest.raises(ValueError, match=message):
        minilm.classify(**arguments)


@pytest.mark.slow
def test_a_saved_model_classifies_through_automodel_and_holds_no_local_path(saved_lora, minilm_path):
    model, folder = saved_lora
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".safetensors":
            text = path.read_text(encoding="utf-8")
            assert minilm_path not in text and os.path.dirname(minilm_path) not in text, path
    adapter_config = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == MINILM
    readme = (folder / "adapter" / "README.md").read_text()
    assert readme.startswith("# LoRA adapter of a ZeroG model") and "[More Information Needed]" not in readme
    loaded = AutoModel.from_pretrained(folder, trust_remote_code=True, lm_path=minilm_path)
    expected = model.classify(TEXTS, [(0, 2), (1, 3)], NAMES, num_rounds=2)
    out = loaded.classify(TEXTS, [(0, 2), (1, 3)], NAMES, num_rounds=2)
    assert type(loaded).__name__ == "ZeroGModel" and out.predicted_classes == expected.predicted_classes
    assert torch.allclose(out.scores, expected.scores, atol=1e-5)


def test_the_model_card_shows_classify():
    body = card_body(ZeroGConfig(lm_name_or_path=MINILM), ["cora"], {"wordnet": "wordnet"}, "", {})
    assert "model.classify(" in body and "predicted_classes" in body


# --- strict arguments, device, push_to_hub -----------------------------------------------------------------


def test_config_refuses_an_unknown_field_by_name():
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_round'"):
        ZeroGConfig(num_round=3)
    # transformers' own keys pass: from_pretrained's, and those the Trainer writes (special token ids, use_cache)
    config = ZeroGConfig(num_rounds=3, name_or_path="x", torch_dtype="float32", pad_token_id=0, use_cache=False)
    assert config.num_rounds == 3 and config.pad_token_id == 0 and "num_round" not in config.to_dict()


@pytest.mark.slow
def test_loaders_refuse_unknown_arguments_by_name(saved_lora, minilm_path, tmp_path):
    _, folder = saved_lora
    with pytest.raises(TypeError, match="load_model.. got an unexpected keyword argument 'num_round'"):
        load_model(minilm_path, num_round=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus_kwarg'"):
        ZeroGModel.from_pretrained(folder, lm_path=minilm_path, bogus_kwarg=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus_kwarg'"):
        AutoModel.from_pretrained(folder, trust_remote_code=True, lm_path=minilm_path, bogus_kwarg=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        saved_lora[0].save_pretrained(tmp_path / "out", bogus=1)
    assert not (tmp_path / "out").exists()  # refused before anything is written
    with pytest.raises(TypeError, match="'repo_id' is an option of push_to_hub=True"):
        saved_lora[0].save_pretrained(tmp_path / "out", repo_id="me/model")


@pytest.mark.slow
def test_device_in_the_api_and_the_cli(minilm_path, tmp_path, capsys):
    model = load_model(minilm_path, device="cpu", num_rounds=2)
    assert next(model.parameters()).device.type == "cpu" and model.config.num_rounds == 2
    with pytest.raises(ValueError, match="device='nowhere' is not a device"):
        load_model(minilm_path, device="nowhere")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model(minilm_path, device="cuda")
        graph = tmp_path / "g.json"
        graph.write_text(json.dumps({"texts": TEXTS, "edges": [], "labels": [0] * 5, "label_names": NAMES}))
        assert cli(["eval", "--model", minilm_path, "--graph", str(graph), "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.slow
def test_push_to_hub_uploads_what_was_saved(saved_lora, tmp_path, monkeypatch):
    model, _ = saved_lora
    calls = []

    class Hub:
        def create_repo(self, repo_id, **options):
            calls.append(("create", repo_id, options))
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, **options):
            calls.append(("upload", options))
            return type("Commit", (), {"commit_url": "https://huggingface.co/me/zerog/commit/1"})()

    monkeypatch.setattr(modeling_zerog, "hf_api", Hub)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "checkpoint-1").mkdir()  # never uploaded: not written by save_pretrained
    url = model.save_pretrained(tmp_path / "out", push_to_hub=True, repo_id="me/zerog", private=True)
    assert url.endswith("/commit/1")
    assert calls[0] == ("create", "me/zerog", {"token": None, "private": True, "exist_ok": True})
    upload = calls[1][1]
    assert upload["repo_id"] == "me/zerog" and upload["folder_path"] == tmp_path / "out"
    assert set(upload["allow_patterns"]) == {f"{name}.py" for name in MODEL_CODE} | {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "adapter/README.md",
    }
    monkeypatch.setattr(model.config, "lm_name_or_path", "/some/local/backbone")
    with pytest.raises(ValueError, match="local folder '/some/local/backbone', which nobody else can load"):
        model.save_pretrained(tmp_path / "out2", push_to_hub=True)
    assert len(calls) == 2


# --- results, PyG, description and label texts -----------------------------------------------------------


def test_to_pyg_and_from_pyg_round_trip():
    graph = papers(description="papers", label_texts=LABEL_TEXTS, test_mask=[True, True, False, False, False])
    back = from_pyg(to_pyg(graph))
    for name in ("texts", "label_names", "label_texts", "description", "name", "directed"):
        assert getattr(back, name) == getattr(graph, name), name
    for name in ("edge_index", "labels", "test_mask"):
        assert torch.equal(getattr(back, name), getattr(graph, name)), name
    assert torch.equal(load_graph(to_pyg(graph)).edge_index, graph.edge_index)
    with pytest.raises(GraphError, match="label_names can be given only for a CSV folder"):
        load_graph(to_pyg(graph), label_names=NAMES)


@pytest.mark.slow
def test_a_result_holds_class_names_and_pyg_data_is_a_graph(minilm, tmp_path):
    graph = papers(description="papers")
    result = evaluate_graph(minilm, to_pyg(graph), 2, cache=EmbeddingCache(tmp_path))
    same = evaluate_graph(minilm, graph, 2, cache=EmbeddingCache(tmp_path))
    assert torch.equal(result.logits, same.logits) and result.num_nodes == 5
    assert result.predicted_classes == [NAMES[i] for i in result.logits.argmax(-1).tolist()]
    assert result.predicted_classes[:4] == ["machine_learning", "databases", "machine_learning", "databases"]
    assert result.to_dict()["num_nodes"] == 5 and result.to_dict()["num_scored"] == 4


def write_folder(folder: Path) -> str:
    folder.mkdir()
    rows = [f"p{i},{text}" for i, text in enumerate(TEXTS)]
    (folder / "nodes.csv").write_text("\n".join(["id,text"] + rows) + "\n", encoding="utf-8")
    (folder / "edges.csv").write_text("source,target\np0,p2\n", encoding="utf-8")
    return str(folder)


def test_load_graph_takes_a_description_and_label_texts(tmp_path, data_dir):
    folder = write_folder(tmp_path / "papers")
    graph = load_graph(folder, label_names=NAMES, description="Papers.", label_texts=LABEL_TEXTS)
    assert graph.description == "Papers." and graph.class_texts == LABEL_TEXTS
    with pytest.raises(GraphError, match="nodes.csv: label_texts has 1 entries for 2 classes"):
        load_graph(folder, label_names=NAMES, label_texts=["one"])
    with pytest.raises(GraphError, match="label_texts must be a list of strings, got str"):
        load_graph(folder, label_names=NAMES, label_texts="one text")
    cora = load_graph("cora", description="Papers on machine learning.")  # a named graph's own are replaced
    assert cora.description == "Papers on machine learning." and cora.label_texts[0].endswith(".")


@pytest.mark.slow
def test_cli_description_and_label_texts(minilm_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    folder = write_folder(tmp_path / "papers")
    (tmp_path / "texts.txt").write_text("\n".join(LABEL_TEXTS) + "\n", encoding="utf-8")
    args = ["eval", "--model", minilm_path, "--graph", folder, "--labels", ",".join(NAMES), "--dtype", "fp32"]
    given = ["--description", "Papers.", "--label-texts", str(tmp_path / "texts.txt")]
    assert cli([*args, *given, "--predictions", str(tmp_path / "with")]) == 0
    assert cli([*args, "--predictions", str(tmp_path / "without")]) == 0
    with_texts = (tmp_path / "with" / "papers.csv").read_text()
    assert with_texts != (tmp_path / "without" / "papers.csv").read_text()
    graph = load_graph(folder, label_names=NAMES, description="Papers.", label_texts=LABEL_TEXTS)
    expected = evaluate_graph(load_model(minilm_path), graph, with_cosines=True, cache=False)
    rows = [line.split(",") for line in with_texts.splitlines()[1:]]
    assert [row[1] for row in rows] == expected.predicted_classes
    capsys.readouterr()
    assert cli([*args, "--label-texts", "one text,two,three"]) == 2
    assert "label_texts has 3 entries for 2 classes" in capsys.readouterr().err


def test_cli_table_shows_nodes_scored_and_r():
    result = {"num_nodes": 4, "num_scored": 0, "accuracy": None, "macro_f1": None, "majority_accuracy": None}
    table = format_table({"papers": {**result, "settings": {"num_rounds": 3}}}).splitlines()
    assert table[0].split() == ["graph", "nodes", "scored", "R", "accuracy", "macro-F1", "majority"]
    assert table[1].split() == ["papers", "4", "0", "3", "-", "-", "-"]


@pytest.mark.slow
def test_encode_works_as_sentence_transformers_does(minilm, minilm_path):
    """One string gives one vector (it gave one per character); numpy, unit vectors, a prompt and a device; the
    vectors are sentence-transformers' own for MiniLM (mean pooling), before its Normalize module."""
    from sentence_transformers import SentenceTransformer

    texts = ["Graph neural networks", "Relational databases", "Graph neural networks"]
    one = minilm.encode(texts[0])
    assert one.shape == (384,) and torch.allclose(one, minilm.encode(texts)[0], atol=1e-5)
    reference = SentenceTransformer(minilm_path, device="cpu").encode(texts, normalize_embeddings=True)
    ours = minilm.encode(texts, convert_to_numpy=True, normalize_embeddings=True, device="cpu")
    assert ours.shape == (3, 384) and abs(ours - reference).max() < 1e-4
    prompted = minilm.encode(texts[:1], prompt="query: ")
    assert torch.allclose(prompted, minilm.encode(["query: " + texts[0]]), atol=1e-6)
    with pytest.raises(TypeError, match=r"texts\[1\] is int, not str"):
        minilm.encode(["a", 3])
