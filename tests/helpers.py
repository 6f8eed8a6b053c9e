"""Helpers the tests import: the tiny configs of each architecture, the real graphs' folder, and a launcher of
two processes. (Fixtures are in conftest.py, which is never imported as a module.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zerog_graph.backbones import BACKBONES

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# A tiny model of each architecture of `BACKBONES`, and gpt2: a decoder whose LoRA targets come from peft's mapping.
DECODERS = tuple(dict.fromkeys(b.architecture for b in BACKBONES.values() if b.is_decoder)) + ("gpt2",)
ENCODERS = tuple(dict.fromkeys(b.architecture for b in BACKBONES.values() if not b.is_decoder))


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
    encoder = {key: value for key, value in decoder.items() if key != "num_key_value_heads"}
    return tf.AutoConfig.for_model(name, **{**encoder, "max_position_embeddings": 258})


def launch_two_processes(script, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `script` under `accelerate launch` with 2 processes; without CUDA they form a gloo group
    (see `zerog_graph.distributed.process_state`). The processes import this checkout's code, whatever
    `pip install -e` points at (a script's own folder, not the current one, starts `sys.path`)."""
    launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    repo = Path(__file__).parents[1]
    path = os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    command = [sys.executable, *launch, str(script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=repo)


def missing(reason: str):
    """Skips the test where a real backbone or graph is absent (a user's machine); fails it under CI (`CI` set),
    where every backbone and graph must be installed, so that a missing one never passes as a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)
