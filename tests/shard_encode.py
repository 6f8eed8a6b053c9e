"""Run under `accelerate launch`: encode texts sharded across processes, save them from rank 0."""

import sys

import torch

from zerog_graph.distributed import encode_sharded, process_state
from zerog_graph.models import load_model

if __name__ == "__main__":
    model_path, output, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
    embeds = encode_sharded(load_model(model_path), texts)
    state = process_state()
    if state.is_main_process:
        torch.save({"embeds": embeds, "num_processes": state.num_processes}, output)
