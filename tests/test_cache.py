"""The embedding cache never returns wrong embeddings: tokenizer in the key, checksums, shapes,
odd entry paths, concurrent writers and caches that cannot be written."""

import json
import logging
import multiprocessing
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from zerog_graph.cache import EmbeddingCache, model_fingerprint
from zerog_graph.models import load_model

TEXTS = [
    "Neural Networks learn from Data",
    "Backpropagation trains deep nets",
    "SQL query optimisation",
    "Indexes for relational databases",
    "Transactions and concurrency control",
]


@pytest.fixture(scope="module")
def reference(minilm):
    return minilm.encode(TEXTS)


def count_forwards(model, monkeypatch) -> list:
    calls = []
    embed = model.embed
    monkeypatch.setattr(model, "embed", lambda *a, **k: calls.append(a[0].size(0)) or embed(*a, **k))
    return calls


def entry(cache, model):
    return cache.path(model_fingerprint(model), TEXTS)


def partials(root: Path) -> list:
    return list(root.rglob("*.partial-*"))


@pytest.mark.slow
def test_tokenizer_settings_are_part_of_the_key(minilm, minilm_path, reference, tmp_path, monkeypatch):
    """Same backbone, a tokenizer that keeps case: its own embeddings, not the lowercasing one's entry."""
    cache = EmbeddingCache(tmp_path / "cache")
    assert torch.allclose(cache.encode(minilm, TEXTS), reference)
    cased = tmp_path / "cased"
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(cased)
    tokenizer_config = json.loads((cased / "tokenizer_config.json").read_text())
    tokenizer_config["do_lower_case"] = False
    (cased / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    monkeypatch.setattr(minilm, "tokenizer", AutoTokenizer.from_pretrained(cased))
    own = minilm.encode(TEXTS)
    assert not torch.allclose(own, reference, atol=1e-3)  # the setting changes the vectors
    assert torch.allclose(cache.encode(minilm, TEXTS), own)
    fingerprints = {p.name for p in (tmp_path / "cache").iterdir()}
    assert len(fingerprints) == 2 and model_fingerprint(minilm) in fingerprints
    monkeypatch.setattr(minilm.tokenizer, "padding_side", "left")
    assert model_fingerprint(minilm) not in fingerprints


@pytest.mark.slow
def test_tokenize_version_is_part_of_the_key(minilm, monkeypatch):
    """A change to how texts become ids must not reuse embeddings cached before it."""
    before = model_fingerprint(minilm)
    module = sys.modules[type(minilm).__module__]  # the modeling file that tokenizes for this model
    monkeypatch.setattr(module, "TOKENIZE_VERSION", module.TOKENIZE_VERSION + 1)
    assert model_fingerprint(minilm) != before


@pytest.mark.slow
def test_corrupted_payload_fails_its_checksum_and_is_rebuilt(minilm, reference, tmp_path, monkeypatch, caplog):
    cache = EmbeddingCache(tmp_path)
    cache.encode(minilm, TEXTS)
    arrow = next(entry(cache, minilm).glob("*.arrow"))
    data = arrow.read_bytes()
    first_row = reference[0].numpy().tobytes()
    assert data.count(first_row) == 1
    arrow.write_bytes(data.replace(first_row, reference[1].numpy().tobytes()))  # still valid Arrow
    calls = count_forwards(minilm, monkeypatch)
    with caplog.at_level(logging.WARNING):
        rebuilt = cache.encode(minilm, TEXTS)
    assert "checksum mismatch" in caplog.text and sum(calls) == 5
    assert torch.allclose(rebuilt, reference)


@pytest.mark.slow
@pytest.mark.parametrize("bad", [torch.zeros(5, 7), torch.zeros(5), torch.full((5, 384), float("nan"))])
def test_entry_of_the_wrong_shape_or_values_is_rebuilt(minilm, reference, tmp_path, monkeypatch, caplog, bad):
    """An entry with a valid checksum but the wrong hidden size, one dimension or NaNs: rebuilt."""
    cache = EmbeddingCache(tmp_path)
    cache.save(entry(cache, minilm), bad)
    calls = count_forwards(minilm, monkeypatch)
    with caplog.at_level(logging.WARNING):
        embeds = cache.encode(minilm, TEXTS)
    assert "is damaged" in caplog.text and sum(calls) == 5
    assert embeds.shape == (5, 384) and torch.allclose(embeds, reference)
    assert torch.allclose(cache.load(entry(cache, minilm), 5, 384), reference)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "symlink to a folder", "dangling symlink"])
def test_entry_path_that_is_not_a_folder_is_replaced(minilm, reference, tmp_path, kind):
    cache = EmbeddingCache(tmp_path / "cache")
    path = entry(cache, minilm)
    path.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not the cache's")
    if kind == "file":
        path.write_text("garbage")
    else:
        path.symlink_to(elsewhere if kind == "symlink to a folder" else tmp_path / "missing")
    stale = path.with_name(f"{path.name}.partial-999999999-dead")  # left by a process that was killed
    stale.mkdir()
    for _ in range(2):
        assert torch.allclose(cache.encode(minilm, TEXTS), reference)
    assert path.is_dir() and not path.is_symlink() and (path / "zerog.json").exists()
    assert (elsewhere / "keep.txt").read_text() == "not the cache's"
    assert partials(tmp_path) == []


def _save_repeatedly(root: str, path: str, times: int) -> int:
    """Saves the same entry `times` times; returns how many saves raised."""
    errors = 0
    embeds = torch.arange(5 * 384, dtype=torch.float32).reshape(5, 384)
    for _ in range(times):
        try:
            EmbeddingCache(root).save(Path(path), embeds)
        except Exception:
            errors += 1
    return errors


def test_concurrent_saves_of_one_key_all_succeed(tmp_path):
    path = tmp_path / "fingerprint" / "5-key"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        errors = pool.starmap(_save_repeatedly, [(str(tmp_path), str(path), 40)] * 3)
    assert errors == [0, 0, 0]
    expected = torch.arange(5 * 384, dtype=torch.float32).reshape(5, 384)
    assert torch.equal(EmbeddingCache(tmp_path).load(path, 5, 384), expected)
    assert partials(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", ["root under a file", "save raises PermissionError"])
def test_unwritable_cache_evaluates_without_caching(minilm, reference, tmp_path, monkeypatch, caplog, how):
    if how == "root under a file":
        (tmp_path / "a-file").write_text("")
        cache = EmbeddingCache(tmp_path / "a-file" / "cache")
    else:
        cache = EmbeddingCache(tmp_path / "cache")

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(cache.root))

        monkeypatch.setattr(cache, "save", refuse)
    with caplog.at_level(logging.WARNING):
        embeds = cache.encode(minilm, TEXTS)
    assert torch.allclose(embeds, reference)
    assert "Cannot write the embedding cache" in caplog.text and "continuing without it" in caplog.text
    assert partials(tmp_path) == []


@pytest.mark.slow
def test_backbone_and_adapter_configs_are_part_of_the_key(minilm, minilm_path, tmp_path):
    """A backbone folder whose config.json changed (here: fewer layers, same weights file) and an adapter
    with another lora_alpha embed differently, so neither may reuse the other's entries."""
    folder = tmp_path / "backbone"  # a copy: symlinks that leave a model folder are refused (docs/safety.md)
    shutil.copytree(minilm_path, folder)
    config = json.loads((Path(minilm_path) / "config.json").read_text())
    six_layers = load_model(str(folder))
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))  # same path, same weights
    one_layer = load_model(str(folder))
    assert not torch.allclose(one_layer.encode(["a graph"]), six_layers.encode(["a graph"]), atol=1e-3)
    assert model_fingerprint(one_layer) != model_fingerprint(six_layers)
    adapted = load_model(minilm_path, use_lora=True)
    before = model_fingerprint(adapted)
    adapted.lm.peft_config["default"].lora_alpha = 64
    assert model_fingerprint(adapted) != before
