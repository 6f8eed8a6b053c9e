"""Issue 31, trust round four: the cache's files, named graphs from local folders, and a Python API that checks what
the CLI checks (`checks_zerog`). One test per finding (numbered as in the issue), then round three's two leftovers;
each fails without its fix. docs/safety.md states the rules they check."""

import json
import logging
import os
import signal
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel

from modeling_zerog import ZeroGModel
from tests import test_safety
from tests.test_graph import publisher_folder
from zerog_graph import cache as cache_module
from zerog_graph.cache import HOST, EmbeddingCache, model_fingerprint
from zerog_graph.cli import build_parser
from zerog_graph.cli import main as cli
from zerog_graph.graph import GraphError
from zerog_graph.io import from_pyg, load_csv
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Graph neural networks for citation data.", "A recipe for bread with flour and yeast.", "Query plans."]
NAMES = ["learning", "cooking"]

tiny_bert = test_safety.tiny_bert  # the fixture: a 2-layer random BERT with MiniLM's tokenizer
saved = test_safety.saved  # the fixture: a saved ZeroG model on the tiny BERT, with its LoRA adapter


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "zerog-cache"))


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    """A training-free ZeroG model on the tiny BERT."""
    return load_model(tiny_bert)


class Hung(BaseException):
    """Raised in a block that ran too long: no `except OSError` or `except Exception` under test stops it."""


@contextmanager
def deadline(seconds: int):
    """Fails the test, rather than hanging it, when the block runs longer than `seconds` (a FIFO opened blocks)."""

    def expire(signum, frame):
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_graph(tmp_path: Path) -> str:
    path = tmp_path / "g.json"
    graph = {"texts": TEXTS, "edges": [[0, 1]], "labels": [0, 1, 0], "label_names": NAMES}
    path.write_text(json.dumps(graph))
    return str(path)


# --- hangs and memory ---------------------------------------------------------------------------------------------


def test_1_fifos_in_the_cache_are_removed_without_being_opened(tiny, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path / "embeddings")
    folder = cache.root / model_fingerprint(tiny)
    folder.mkdir(parents=True)
    os.mkfifo(folder / "shard-00000000000000000001-deadbeef.arrow")  # named like a shard
    os.mkfifo(folder / f"shard-x.arrow.partial-{HOST}-999999999-0")  # like a dead process's partial file
    monkeypatch.setattr(cache_module, "_weights_hashes", {})
    home = Path(os.environ["ZEROG_CACHE"])
    (home / "weights-sha256.json").unlink(missing_ok=True)
    os.mkfifo(home / "weights-sha256.json")  # in place of the hashes of local weights files
    with deadline(60):
        embeds = cache.encode(tiny, TEXTS)
    assert embeds.shape == (3, 64) and not list(folder.glob("*.partial-*"))
    assert all(path.is_file() for path in folder.iterdir())


def test_2_weights_hashes_are_read_only_from_a_small_regular_file(tiny_bert, tmp_path):
    """Linked to an endless device, `weights-sha256.json` was read until memory ran out: run under a 4 GB limit."""
    cache = tmp_path / "zerog-cache"
    cache.mkdir(exist_ok=True)
    (cache / "weights-sha256.json").symlink_to("/dev/zero")
    script = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
        "from pathlib import Path; from zerog_graph.cache import weights_fingerprint; "
        f"print(weights_fingerprint(Path({tiny_bert!r}) / 'model.safetensors'))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), ZEROG_CACHE=str(cache))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and len(result.stdout.strip()) == 20, result.stderr[-2000:]
    (cache / "weights-sha256.json").unlink()
    (cache / "weights-sha256.json").write_text('["not", "an", "object"]')
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# --- silent wrong results -----------------------------------------------------------------------------------------


def test_3_a_named_graph_from_a_local_folder_is_never_served_after_the_folder_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    folder = publisher_folder(tmp_path / "data" / "cora")
    assert load_graph("cora").label_names == ["Neural Networks", "databases"]
    (folder / "categories.csv").write_text("name\nNeural Networks\nTheory\n", encoding="utf-8")
    assert load_graph("cora").label_names == ["Neural Networks", "Theory"]  # the edit is read
    publisher_folder(tmp_path / "other" / "cora", texts=("one", "two", "three"))
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "other"))
    assert load_graph("cora").texts == ["one", "two", "three"]  # another ZEROG_DATA, another graph
    built = list((tmp_path / "zerog-cache" / "data").glob("cora-*.json"))
    assert built and not any("Graph-COM" in path.name for path in built)  # never under the publisher's name


def test_4_categories_csv_without_its_header_row_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    folder = publisher_folder(tmp_path / "data" / "cora")
    (folder / "categories.csv").write_text("Neural Networks\ndatabases\nTheory\n", encoding="utf-8")
    with pytest.raises(GraphError, match=r"categories.csv: the first row is 'Neural Networks', not the header"):
        load_graph("cora")


def test_5_encode_and_classify_refuse_a_batch_size_that_is_not_a_positive_integer(tiny):
    for batch_size in (-1, 0, 1.5, True, "8"):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size!r}"):
            tiny.encode(TEXTS, batch_size=batch_size)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            tiny.classify(TEXTS, [(0, 1)], NAMES, batch_size=batch_size)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"class_names": ["learning", "learning"]}, "class_names names class 'learning' twice"),
        ({"class_names": ["Cat", "cat"]}, "names classes 'Cat' and 'cat', the same name"),
        ({"class_names": ["caf\u00e9", "cafe\u0301"]}, "the same name once case, Unicode form"),
        ({"class_names": ["learning", " "]}, r"class_names\[1\] = ' ' is an empty class name"),
        ({"texts": ["", " ", "\n"]}, "texts: all 3 texts are empty or blank"),
        (
            {"label_texts": ["Same text.", "same text."]},
            "label_texts of classes 'learning' and 'cooking' are the same",
        ),
    ],
)
def test_6_classify_refuses_what_load_graph_refuses(tiny, change, message):
    arguments = {"texts": TEXTS, "edge_index": [(0, 1)], "class_names": NAMES, **change}
    with pytest.raises(ValueError, match=message):
        tiny.classify(**arguments)


def test_7_classify_reads_each_edge_index_layout_one_way_or_refuses_it(tiny):
    for edges, message in (
        (torch.tensor([[0, 1], [1, 2]]), r"a \[2, 2\] tensor: 2 edges as \[2, E\] or as \[E, 2\] pairs"),
        ([[0, 1], [1, 2]], r"reads as \[2, E\] or as 2 pairs"),
        (torch.tensor([[0, 1], [1, 2], [2, 0]]), r"shape \(3, 2\), pairs as rows; pass edge_index.T"),
        (None, "edge_index is None"),
        ("0-1", "edge_index is str"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny.classify(TEXTS, edges, NAMES)
    tensor = tiny.classify(TEXTS, torch.tensor([[0, 1, 2], [1, 2, 0]]), NAMES, num_rounds=1)
    array = tiny.classify(TEXTS, np.array([[0, 1, 2], [1, 2, 0]]), NAMES, num_rounds=1)
    pairs = tiny.classify(TEXTS, [(0, 1), (1, 2), (2, 0)], NAMES, num_rounds=1)
    assert torch.equal(tensor.scores, array.scores) and torch.equal(tensor.scores, pairs.scores)


def test_8_csv_node_ids_equal_after_unicode_normalisation_are_refused(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "nodes.csv").write_text("id,text,label\ncaf\u00e9,a,ML\ncafe\u0301,b,DB\n", encoding="utf-8")
    (folder / "edges.csv").write_text("source,target\ncaf\u00e9,cafe\u0301\n", encoding="utf-8")
    with pytest.raises(GraphError, match=r"nodes.csv:3: node id 'cafe\\u0301' differs .* Unicode form"):
        load_csv(folder / "nodes.csv", folder / "edges.csv")


def test_9_a_description_file_is_read_as_a_label_texts_file_is(tmp_path):
    description = tmp_path / "description.txt"
    description.write_text("Papers and recipes.\n", encoding="utf-8")
    labels = tmp_path / "labels.txt"
    labels.write_text("Machine learning.\nCooking.\n", encoding="utf-8")
    args = build_parser().parse_args(
        ["eval", "--model", "m", "--graph", "g", "--description", str(description), "--label-texts", str(labels)]
    )
    assert args.description == "Papers and recipes." and args.label_texts == ["Machine learning.", "Cooking."]
    assert build_parser().parse_args(["eval", "--model", "m", "--graph", "g", "--description", "A graph."]).description


def test_10_a_pyg_data_whose_node_count_or_labels_disagree_with_its_texts_is_refused():
    from torch_geometric.data import Data

    fields = dict(raw_texts=["a", "b", "c", "d"], edge_index=torch.tensor([[0], [1]]), label_names=NAMES)
    with pytest.raises(GraphError, match=r"y has shape \(2, 2\); expected one label per node \(4,\)"):
        from_pyg(Data(y=torch.tensor([[0, 1], [1, 0]]), **fields))
    with pytest.raises(GraphError, match="num_nodes says 5 nodes, but raw_texts has 4 texts"):
        from_pyg(Data(y=torch.tensor([0, 1, 0, 1]), num_nodes=5, **fields))
    assert from_pyg(Data(y=torch.tensor([[0], [1], [0], [1]]), **fields)).labels.tolist() == [0, 1, 0, 1]


def test_11_a_cache_that_other_accounts_can_write_is_warned_about(tiny, tmp_path, caplog):
    cache = EmbeddingCache(tmp_path / "embeddings")
    cache.encode(tiny, TEXTS)
    cache.root.chmod(cache.root.stat().st_mode | stat.S_IWOTH)
    with caplog.at_level(logging.WARNING, logger="zerog_graph.cache"):
        EmbeddingCache(cache.root).encode(tiny, TEXTS)
    assert "is writable by every account: whoever can write the cache decides" in caplog.text


# --- legitimate uses refused --------------------------------------------------------------------------------------


def test_12_transformers_loading_keywords_are_honoured_or_refused_naming_why(saved, tiny_bert):
    folder, _ = saved
    model, info = ZeroGModel.from_pretrained(
        folder,
        low_cpu_mem_usage=True,
        device_map="cpu",
        use_safetensors=True,
        torch_dtype="bfloat16",
        attn_implementation="eager",
        output_loading_info=True,
    )
    assert next(model.lm.parameters()).dtype == torch.bfloat16 and info["missing_keys"] == []
    assert model.lm.config._attn_implementation == "eager"
    assert ZeroGModel.from_pretrained(folder, attn_implementation="sdpa").lm.config._attn_implementation == "sdpa"
    for attn in ("sdpa", "eager"):  # AutoModel hands it over in the config: it reaches the backbone all the same
        auto = AutoModel.from_pretrained(folder, trust_remote_code=True, attn_implementation=attn)
        assert auto.lm.config._attn_implementation == attn
    for kwargs, message in (
        ({"use_safetensors": False}, "use_safetensors=False: ZeroG loads safetensors only"),
        ({"device_map": {"lm": "cpu", "pooling": "cuda:1"}}, "device_map places the model on 2 devices"),
        ({"force_download": True}, "force_download=True is not applied: ZeroG reads files the Hub cache holds"),
        ({"attn_implementation": "no-such"}, "attn_implementation='no-such'"),
    ):
        with pytest.raises(ValueError, match=message):
            ZeroGModel.from_pretrained(folder, **kwargs)
    assert next(load_model(tiny_bert, torch_dtype=torch.bfloat16).lm.parameters()).dtype == torch.bfloat16
    for key, message in (
        ("revision", "name it in the model, org/repo@revision"),
        ("cache_dir", "HF_HUB_CACHE"),
        ("local_files_only", "HF_HUB_OFFLINE=1"),
        ("force_download", "delete them there"),
    ):
        with pytest.raises(ValueError, match=f"load_model\\(\\): {key} is not applied: .*{message}"):
            load_model(tiny_bert, **{key: True})


def test_13_encode_takes_sentence_transformers_output_keywords(tiny):
    as_tensor = tiny.encode(TEXTS, convert_to_numpy=True, convert_to_tensor=True)  # the tensor wins, as there
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (3, 64)
    same = tiny.encode(TEXTS, precision="float32", output_value="sentence_embedding", convert_to_numpy=True)
    assert isinstance(same, np.ndarray) and np.allclose(same, as_tensor.numpy())
    with pytest.raises(ValueError, match="precision='int8': encode returns float32 embeddings only"):
        tiny.encode(TEXTS, precision="int8")
    with pytest.raises(ValueError, match="output_value='token_embeddings': encode returns pooled sentence"):
        tiny.encode(TEXTS, output_value="token_embeddings")


# --- tracebacks and unclear errors --------------------------------------------------------------------------------


def test_14_encode_checks_the_device_before_it_moves_the_model(tiny):
    with pytest.raises(ValueError, match="device='meta' cannot run a model"):
        tiny.encode(TEXTS, device="meta")
    assert next(tiny.parameters()).device.type == "cpu" and torch.isfinite(tiny.encode(TEXTS)).all()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda', but CUDA is not available on this machine"):
            tiny.encode(TEXTS, device="cuda")


def test_15_device_types_zerog_does_not_run_on_are_refused_in_one_line(tmp_path, capsys):
    graph_path, model = write_graph(tmp_path), str(tmp_path / "no-such-model")  # refused before the model loads
    for device, message in (
        ("xla", "--device='xla': ZeroG runs on cpu, cuda, mps, xpu, not xla"),
        ("meta", "--device='meta' cannot run a model"),
        ("", "--device='' is empty"),
    ):
        code = cli(["eval", "--model", model, "--graph", graph_path, "--device", device])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_16_max_length_surrogates_and_flags_are_checked_by_name(tiny):
    for max_length in (0, -5):
        with pytest.raises(ValueError, match=f"max_length must be a positive integer, got {max_length}"):
            tiny.encode(TEXTS, max_length=max_length)
    with pytest.raises(ValueError, match=r"texts\[1\] holds a lone surrogate at character 1"):
        tiny.encode(["fine", "a\ud800"])
    with pytest.raises(ValueError, match=r"class_names\[0\] holds a lone surrogate"):
        tiny.classify(TEXTS, [(0, 1)], ["\udc00x", "y"])
    with pytest.raises(ValueError, match="directed must be True or False, got 'yes'"):
        tiny.classify(TEXTS, [(0, 1)], NAMES, directed="yes")


def test_17_named_graph_faults_name_the_local_file_and_a_damaged_build_is_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ZEROG_DATA", str(tmp_path / "data"))
    folder = publisher_folder(tmp_path / "data" / "cora")
    expected = load_graph("cora").texts
    for built in (tmp_path / "zerog-cache" / "data").glob("cora-*.json"):
        built.write_text(built.read_text()[:20])  # a truncated build
    with caplog.at_level(logging.WARNING):
        assert load_graph("cora").texts == expected
    assert "building it again" in caplog.text
    (folder / "categories.csv").unlink()
    os.mkfifo(folder / "categories.csv")
    with deadline(60), pytest.raises(GraphError, match=r"categories.csv: not a regular file"):
        load_graph("cora")
    (folder / "categories.csv").unlink()
    (folder / "categories.csv").write_text("name\nNeural Networks\nNeural_Networks\n", encoding="utf-8")
    with pytest.raises(GraphError, match=f"^{folder}: label_names names classes"):  # the folder, not the publisher
        load_graph("cora")


def test_18_a_read_only_cache_missing_one_text_encodes_only_that_text(tiny, tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path / "embeddings")
    reference = cache.encode(tiny, TEXTS)
    encoded = []
    real_encode = ZeroGModel.encode

    def counting_encode(model, texts, *args, **kwargs):
        encoded.extend(texts)
        return real_encode(model, texts, *args, **kwargs)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ZeroGModel, "encode", counting_encode)
    monkeypatch.setattr(cache_module, "write_shard", read_only)
    monkeypatch.setattr(cache_module.tempfile, "TemporaryFile", read_only)
    embeds = EmbeddingCache(cache.root).encode(tiny, TEXTS + ["A new text."])
    assert encoded == ["A new text."]
    assert torch.allclose(embeds[:3], reference, atol=1e-6)
    assert torch.allclose(embeds[3], real_encode(tiny, ["A new text."])[0], atol=1e-5)


# --- round three, on today's main ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_zerog_cache_naming_a_file_runs_without_the_cache(tiny_bert, tmp_path, capsys, monkeypatch, caplog):
    from zerog_graph.paths import build_once

    (tmp_path / "cache-file").write_text("")
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache-file"))
    monkeypatch.setattr(cache_module, "_weights_hashes", {})  # hashed anew, and kept in the (impossible) cache
    with caplog.at_level(logging.WARNING, logger="zerog_graph.cache"):
        code = cli(
            ["eval", "--model", tiny_bert, "--graph", write_graph(tmp_path), "--output", str(tmp_path / "r.json")]
        )
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "r.json").is_file(), err
    assert "Cannot write the embedding cache" in caplog.text and "continuing without it" in caplog.text
    with pytest.raises(
        OSError, match=r"^Cannot build SmolLM2 in .*cache-file/backbones \(Not a directory\); set ZEROG"
    ):
        build_once(tmp_path / "cache-file" / "backbones" / "SmolLM2", lambda path: None)  # a conversion needs one


@pytest.mark.slow
def test_an_output_name_of_240_characters_is_written(tiny_bert, tmp_path, capsys):
    output = tmp_path / ("r" * 235 + ".json")
    code = cli(["eval", "--model", tiny_bert, "--graph", write_graph(tmp_path), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 0 and json.loads(output.read_text()), err
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["g.json", output.name, "zerog-cache"])


# --- this round's own cases ---------------------------------------------------------------------------------------


def test_own_round_flags_one_class_and_edge_index_forms(tiny):
    with pytest.raises(ValueError, match="normalize_embeddings must be True or False, got 'no'"):
        tiny.encode(TEXTS, normalize_embeddings="no")  # a non-empty string would have normalised
    with pytest.raises(ValueError, match=r"class_names has one class \('learning'\); zero-shot classification"):
        tiny.classify(TEXTS, [(0, 1)], ["learning"])
    with pytest.raises(ValueError, match="edge_index is a torch.sparse_coo tensor; pass a dense one"):
        tiny.classify(TEXTS, torch.tensor([[0, 1, 2], [1, 2, 0]]).to_sparse(), NAMES)
    numpy_pairs = tiny.classify(TEXTS, [(np.int64(0), np.int64(1))], NAMES, num_rounds=1)
    assert torch.equal(numpy_pairs.scores, tiny.classify(TEXTS, [(0, 1)], NAMES, num_rounds=1).scores)
    no_edges = tiny.classify(TEXTS, torch.empty(0, 2, dtype=torch.long), NAMES, num_rounds=1)
    assert torch.equal(no_edges.scores, tiny.classify(TEXTS, [], NAMES, num_rounds=1).scores)
