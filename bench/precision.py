"""fp32 against bf16 against int8 on the machine it runs on: encoding speed, accuracy, and what `auto` picks.

    python bench/precision.py [--model minilm] [--graph cora --graph citeseer --graph dblp]
                              [--graph wordnet] [--precisions fp32,bf16,int8] [--num-texts 300]

  - speed: `ZeroGModel.encode` on `--num-texts` WordNet texts (Cora's without WordNet), batches of 32,
    after a warm-up batch; texts/s per precision;
  - accuracy: zero-shot accuracy and macro-F1 per graph and precision, with the default settings, the
    difference to fp32 in points, and the share of nodes predicted as the first precision does.
    Embeddings go through the cache (`ZEROG_CACHE`), so a second run only re-times;
  - the precision `--dtype auto` picks for this model on this machine, and the CPU flags it reads.
Exits 1 when `auto` picks a precision that is slower than fp32 here or loses more than 0.3 point
of accuracy against fp32 on a graph.
"""

import argparse
import os
import sys
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZEROG_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

from zerog_graph.evaluate import evaluate_graph  # noqa: E402
from zerog_graph.graph import GraphError  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import apply_precision, cpu_has_amx, cpu_has_int8_dot, default_dtype  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402

TOLERANCE_POINTS = 0.3


def speed_texts(count: int) -> list:
    try:
        texts = load_graph("wordnet").texts
    except GraphError:
        texts = load_graph("cora").texts
    step = max(len(texts) // count, 1)
    return texts[::step][:count]


def load_in(model_name: str, precision: str):
    model = load_model(model_name, dtype=default_dtype(precision))
    return model, apply_precision(model, precision)


def texts_per_second(model, texts: list) -> float:
    model.encode(texts[:32])  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--num-texts", type=int, default=300)
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    graph_names = args.graph or ["cora", "citeseer", "dblp"]
    texts = speed_texts(args.num_texts)
    speed, accuracy, predictions = {}, {}, {}
    for precision in precisions:
        model, used = load_in(args.model, precision)
        speed[precision] = texts_per_second(model, texts)
        for name in graph_names:
            result = evaluate_graph(model, load_graph(name))
            accuracy[precision, name] = (100 * result.accuracy, 100 * result.macro_f1)
            predictions[precision, name] = result.logits.argmax(-1)
            same = (predictions[precision, name] == predictions[precisions[0], name]).float().mean().item()
            print(
                f"{precision} ({used}) {name}: accuracy {accuracy[precision, name][0]:.2f}%, "
                f"same prediction as {precisions[0]} on {100 * same:.1f}% of nodes",
                flush=True,
            )
    tokens = sum(len(ids) for ids in model.tokenize(texts, padding=False)["input_ids"])
    print(
        f"\n{args.model}, {len(texts)} texts, {tokens / len(texts):.0f} tokens per text, "
        f"{torch.get_num_threads()} threads; CPU: AMX tiles {cpu_has_amx()}, AVX512-VNNI {cpu_has_int8_dot()}, "
        f"AVX512-BF16 {torch.cpu._is_avx512_bf16_supported()}, CUDA {torch.cuda.is_available()}"
    )
    print(f"{'precision':<10} {'texts/s':>8} {'vs fp32':>8} " + " ".join(f"{g + ' acc/F1':>20}" for g in graph_names))
    for precision in precisions:
        ratio = speed[precision] / speed["fp32"] if "fp32" in speed else float("nan")
        cells = []
        for name in graph_names:
            acc, f1 = accuracy[precision, name]
            delta = f" ({acc - accuracy['fp32', name][0]:+.2f})" if "fp32" in precisions else ""
            cells.append(f"{acc:.2f}/{f1:.2f}{delta}".rjust(20))
        print(f"{precision:<10} {speed[precision]:>8.1f} {ratio:>7.2f}x " + " ".join(cells))
    chosen = load_in(args.model, "auto")[1]
    chosen = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16"}.get(chosen, chosen)
    print(f"--dtype auto picks: {chosen}")
    if chosen not in precisions or "fp32" not in precisions or chosen == "fp32":
        return 0
    losses = [accuracy["fp32", g][0] - accuracy[chosen, g][0] for g in graph_names]
    held = speed[chosen] > speed["fp32"] and max(losses) <= TOLERANCE_POINTS
    print(f"auto's choice is faster than fp32 and within {TOLERANCE_POINTS} point on every graph: {held}")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
