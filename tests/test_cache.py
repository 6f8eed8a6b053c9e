"""The embedding cache never returns wrong embeddings: tokenizer, weights and configs in the key, checksums,
shapes, shards of another model, odd paths, concurrent writers and caches that cannot be written."""

import json
import logging
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from zerog_graph.cache import HOST, EmbeddingCache, model_fingerprint, text_keys, write_shard
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


def folder(cache, model) -> Path:
    return cache.root / model_fingerprint(model)


def shards(cache, model) -> list:
    return sorted(folder(cache, model).glob("shard-*.arrow"))


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
    monkeypatch.setattr(type(minilm), "tokenize_version", type(minilm).tokenize_version + 1)
    assert model_fingerprint(minilm) != before


@pytest.mark.slow
def test_corrupted_payload_fails_its_checksum_and_is_rebuilt(minilm, reference, tmp_path, monkeypatch, caplog):
    cache = EmbeddingCache(tmp_path)
    cache.encode(minilm, TEXTS)
    (arrow,) = shards(cache, minilm)
    data = arrow.read_bytes()
    first_row = reference[0].numpy().tobytes()
    assert data.count(first_row) == 1
    arrow.write_bytes(data.replace(first_row, reference[1].numpy().tobytes()))  # still valid Arrow
    calls = count_forwards(minilm, monkeypatch)
    with caplog.at_level(logging.WARNING):
        rebuilt = EmbeddingCache(tmp_path).encode(minilm, TEXTS)
    assert "checksum mismatch" in caplog.text and sum(calls) == 5
    assert torch.allclose(rebuilt, reference)


@pytest.mark.slow
@pytest.mark.parametrize("bad", [torch.zeros(5, 7), torch.full((5, 384), float("nan")), "other model"])
def test_shard_of_the_wrong_shape_values_or_model_is_rebuilt(minilm, reference, tmp_path, monkeypatch, caplog, bad):
    """A shard with a valid checksum but the wrong hidden size, NaNs, or written for another model (moved between
    two models' folders): removed and its texts encoded again."""
    cache = EmbeddingCache(tmp_path)
    fingerprint = model_fingerprint(minilm)
    keys = text_keys(fingerprint, None, TEXTS)
    folder(cache, minilm).mkdir(parents=True)
    embeds = reference.numpy() if isinstance(bad, str) else bad.numpy()
    write_shard(folder(cache, minilm), "another-model" if isinstance(bad, str) else fingerprint, keys, embeds)
    calls = count_forwards(minilm, monkeypatch)
    with caplog.at_level(logging.WARNING):
        embeds = cache.encode(minilm, TEXTS)
    assert "is damaged" in caplog.text and sum(calls) == 5
    assert embeds.shape == (5, 384) and torch.allclose(embeds, reference)
    assert len(shards(cache, minilm)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "symlink to a folder", "dangling symlink", "shard symlink"])
def test_cache_path_that_is_not_what_it_should_be_is_replaced(minilm, reference, tmp_path, kind):
    cache = EmbeddingCache(tmp_path / "cache")
    path = folder(cache, minilm)
    path.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not the cache's")
    if kind == "file":
        path.write_text("garbage")
    elif kind == "shard symlink":
        path.mkdir()
        (path / "shard-0-link.arrow").symlink_to(elsewhere / "keep.txt")
        (path / f"shard-1-dead.arrow.partial-{HOST}-999999999-dead").write_text("")  # a killed process
    else:
        path.symlink_to(elsewhere if kind == "symlink to a folder" else tmp_path / "missing")
    for _ in range(2):
        assert torch.allclose(EmbeddingCache(cache.root).encode(minilm, TEXTS), reference)
    assert path.is_dir() and not path.is_symlink() and len(shards(cache, minilm)) == 1
    assert (elsewhere / "keep.txt").read_text() == "not the cache's"
    assert partials(tmp_path) == []


def _write_repeatedly(folder: str, times: int) -> int:
    """Writes a shard of the same keys `times` times; returns how many writes raised."""
    errors = 0
    embeds = np.arange(5 * 384, dtype=np.float32).reshape(5, 384)
    for _ in range(times):
        try:
            write_shard(Path(folder), "fp", text_keys("fp", None, TEXTS), embeds)
        except Exception:
            errors += 1
    return errors


def test_concurrent_writers_of_one_key_all_succeed(tmp_path):
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        errors = pool.starmap(_write_repeatedly, [(str(tmp_path), 20)] * 3)
    assert errors == [0, 0, 0] and len(list(tmp_path.glob("shard-*.arrow"))) == 60
    cache, keys = EmbeddingCache(tmp_path.parent), text_keys("fp", None, TEXTS)
    found, shard_of, row_of = cache.lookup(tmp_path, "fp", 384, keys)
    expected = np.arange(5 * 384, dtype=np.float32).reshape(5, 384)
    assert (shard_of >= 0).all() and np.array_equal(
        np.stack([found[s].embeds[r] for s, r in zip(shard_of, row_of)]), expected
    )
    assert partials(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", ["root under a file", "write raises PermissionError"])
def test_unwritable_cache_evaluates_without_caching(minilm, reference, tmp_path, monkeypatch, caplog, how):
    if how == "root under a file":
        (tmp_path / "a-file").write_text("")
        cache = EmbeddingCache(tmp_path / "a-file" / "cache")
    else:
        cache = EmbeddingCache(tmp_path / "cache")

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(cache.root))

        monkeypatch.setattr("zerog_graph.cache.write_shard", refuse)
    with caplog.at_level(logging.WARNING):
        embeds = cache.encode(minilm, TEXTS)
    assert torch.allclose(embeds, reference)
    assert "Cannot write the embedding cache" in caplog.text and "continuing without it" in caplog.text
    assert partials(tmp_path) == []


def test_shards_are_datasets_arrow_files(tmp_path):
    from datasets import Dataset

    embeds = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    path = write_shard(tmp_path, "fp", text_keys("fp", None, TEXTS), embeds)
    dataset = Dataset.from_file(str(path))
    assert dataset.column_names == ["key", "embedding"] and np.allclose(np.array(dataset["embedding"]), embeds)


@pytest.mark.slow
def test_weights_replaced_in_place_with_the_same_size_and_time_change_the_fingerprint(minilm_path, tmp_path):
    """`cp -p` or `rsync -a` of another checkpoint over the weights keeps their size and modification time: the
    fingerprint reads their content."""
    folder = tmp_path / "backbone"
    shutil.copytree(minilm_path, folder)
    before = model_fingerprint(load_model(str(folder)))
    weights = folder / "model.safetensors"
    stat = weights.stat()
    data = bytearray(weights.read_bytes())  # another checkpoint of the same architecture: other values, same layout
    header = 8 + int.from_bytes(data[:8], "little")
    for name, entry in json.loads(data[8:header]).items():
        if name != "__metadata__" and entry["dtype"] == "F32":
            start, stop = (header + offset for offset in entry["data_offsets"])
            data[start:stop] = (np.frombuffer(data[start:stop], dtype=np.float32) + 0.01).tobytes()
    weights.write_bytes(data)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights.stat().st_size == stat.st_size and weights.stat().st_mtime_ns == stat.st_mtime_ns
    assert model_fingerprint(load_model(str(folder))) != before


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


def _lookup(tmp_path, width=8):
    keys = text_keys("fp", None, TEXTS)
    return EmbeddingCache(tmp_path).lookup(tmp_path, "fp", width, keys)


def test_shard_whose_schema_disagrees_with_its_metadata_is_removed(tmp_path, caplog):
    """Rows twice as wide as the metadata says (reshaped, they would serve other rows' values), float64 values, or
    null keys: the shard is removed with a warning, whatever its checksum."""
    import pyarrow as pa

    keys = text_keys("fp", None, TEXTS)
    cases = {
        "wide": (pa.list_(pa.float32(), 16), np.zeros((5, 16), np.float32), [bytes(k) for k in keys]),
        "float64": (pa.list_(pa.float64(), 8), np.zeros((5, 8)), [bytes(k) for k in keys]),
        "null key": (pa.list_(pa.float32(), 8), np.zeros((5, 8), np.float32), [None] + [bytes(k) for k in keys[1:]]),
    }
    for name, (kind, values, key_list) in cases.items():
        table = pa.table({"key": pa.array(key_list, pa.binary(16)), "embedding": pa.array(list(values), kind)})
        metadata = {"fingerprint": "fp", "rows": 5, "width": 8, "sha256": "x"}
        table = table.replace_schema_metadata({b"zerog": json.dumps(metadata)})
        with (
            pa.OSFile(str(tmp_path / f"shard-{name}.arrow"), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as w,
        ):
            w.write_table(table)
    with caplog.at_level(logging.WARNING):
        shards, shard_of, _ = _lookup(tmp_path)
    assert shards == [] and (shard_of == -1).all() and caplog.text.count("is damaged") == 3
    assert list(tmp_path.glob("shard-*")) == []


def test_damaged_shard_that_cannot_be_removed_is_skipped(tmp_path, monkeypatch, caplog):
    """A read-only cache: the damaged shard stays, is skipped with a warning, and the lookup ends."""
    path = write_shard(tmp_path, "fp", text_keys("fp", None, TEXTS), np.full((5, 8), np.nan, np.float32))

    def refuse(entry):
        raise PermissionError(13, "Permission denied", str(entry))

    monkeypatch.setattr("zerog_graph.cache.remove_entry", refuse)
    with caplog.at_level(logging.WARNING):
        shards, shard_of, _ = _lookup(tmp_path)
    assert (shard_of == -1).all() and path.exists() and "Cannot remove" in caplog.text


def test_partial_files_of_other_hosts_are_judged_by_age_only(tmp_path):
    from zerog_graph import cache

    young = tmp_path / "shard-1.arrow.partial-otherhost-1-abc"
    old = tmp_path / "shard-2.arrow.partial-otherhost-1-def"
    dead = tmp_path / f"shard-3.arrow.partial-{cache.HOST}-999999999-ghi"
    for path in (young, old, dead):
        path.write_bytes(b"")
    os.utime(old, (0, 0))
    cache.remove_stale_partials(tmp_path)
    assert young.exists() and not old.exists() and not dead.exists()


@pytest.mark.slow
def test_swapped_shards_serve_their_own_texts(minilm, reference, tmp_path):
    """Two graphs' shards of the same shape, each with a valid checksum, swapped on disk: each text still gets its
    own vector (every row carries the key it was computed for); they used to serve the other graph's."""
    others = [f"{text} (second graph)" for text in TEXTS]
    cache = EmbeddingCache(tmp_path)
    cache.encode(minilm, TEXTS)
    expected_others = cache.encode(minilm, others)
    first, second = shards(cache, minilm)
    data = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(data)
    fresh = EmbeddingCache(tmp_path)
    assert torch.allclose(fresh.encode(minilm, TEXTS), reference, atol=1e-6)
    assert torch.equal(fresh.encode(minilm, others), expected_others)
