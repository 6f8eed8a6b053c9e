"""Run under `accelerate launch`: encode texts sharded across processes (through an embedding cache with
`--cache=FOLDER`), save them from rank 0."""

import sys

import torch

from zerog_graph.cache import EmbeddingCache
from zerog_graph.distributed import encode_sharded, process_state
from zerog_graph.models import load_model

if __name__ == "__main__":
    model_path, output, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
    cache = None
    if texts and texts[0].startswith("--cache="):
        cache, texts = EmbeddingCache(texts[0].split("=", 1)[1], shard_rows=8), texts[1:]
    model = load_model(model_path)
    embeds = cache.encode(model, texts, batch_size=4) if cache else encode_sharded(model, texts)
    state = process_state()
    if state.is_main_process:
        torch.save({"embeds": embeds, "num_processes": state.num_processes}, output)
