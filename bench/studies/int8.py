"""int8 schemes for the backbone's linear layers against fp32: mean cosine of the embeddings, and speed.

    python bench/studies/int8.py [--model minilm] [--graph wordnet] [--num-texts 256] [--repeats 3]

Encodes `--num-texts` node texts of `--graph` (WordNet glosses; Cora's texts where WordNet is missing) with
the model in fp32, then with each int8 scheme applied to a fresh copy:
  - `ao-dynamic`: the former `--dtype int8`, torch.ao's eager dynamic quantisation (`quantize_dynamic`, per
    channel weight qconfig, activations quantised per batch by fbgemm); deprecated in torch 2.13;
  - `weight-only`: `zerog_graph.precision.Int8Linear`, today's `--dtype int8`: int8 weights with one scale per
    output channel, dequantised in the matmul; activations stay float.
Prints, per scheme, the mean and lowest cosine to the fp32 embedding of the same text, and texts/s with its
ratio to fp32 (best of `--repeats`, after a warm-up batch), with the CPU.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.graphs import use_shared_data  # noqa: E402
from zerog_graph.graph import GraphError  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import cpu_name, quantize_int8  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402


def node_texts(graph: str, count: int) -> tuple:
    """(graph name, `count` texts spread over the graph)."""
    try:
        texts = load_graph(graph).texts
    except GraphError:
        graph, texts = "cora", load_graph("cora").texts
    step = max(len(texts) // count, 1)
    return graph, texts[::step][:count]


def ao_dynamic(model):
    """The former int8 path: torch.ao eager dynamic quantisation of every backbone `nn.Linear`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(
            model.lm, {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
    return model


def texts_per_second(model, texts: list, repeats: int) -> float:
    model.encode(texts[:32])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts, batch_size=32)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", default="wordnet")
    parser.add_argument("--num-texts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    use_shared_data()
    graph, texts = node_texts(args.graph, args.num_texts)
    schemes = {"fp32": lambda model: model, "ao-dynamic": ao_dynamic, "weight-only": quantize_int8}
    reference, speed = None, {}
    print(f"CPU: {cpu_name()}, {torch.get_num_threads()} threads; {args.model}, {len(texts)} {graph} texts")
    for name, apply in schemes.items():
        model = apply(load_model(args.model, dtype=torch.float32))
        with torch.no_grad():
            vectors = model.encode(texts, batch_size=32)
        reference = vectors if reference is None else reference
        cosine = nn.functional.cosine_similarity(vectors, reference)
        speed[name] = texts_per_second(model, texts, args.repeats)
        print(
            f"{name:<12} cosine to fp32 mean {cosine.mean():.4f} min {cosine.min():.4f}; "
            f"{speed[name]:6.1f} texts/s ({speed[name] / speed['fp32']:.2f}x fp32)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
