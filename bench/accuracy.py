"""Zero-shot accuracy table: training-free against trained, MiniLM against SmolLM2.

    python bench/accuracy.py --model minilm --model outputs/minilm-cora-citeseer --rounds 2   # about 2 minutes here
    python bench/accuracy.py --model smollm2 --rounds 2                                        # about 8 minutes here

Evaluates every model on Cora, Citeseer and DBLP (all labelled nodes) with its default settings
and the default `--dtype auto`, skipping the graphs a trained model was trained on (read from its
`zero_shot_results.json`). Each row gives the majority-class baseline of its graph and the
`zerog eval` command that reproduces it. The embedding cache is bypassed, so every run encodes.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZEROG_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

from zerog_graph.evaluate import evaluate_graph  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import apply_precision, default_dtype  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402


def sources_of(model_name: str) -> list:
    record = Path(model_name) / "zero_shot_results.json"
    return json.loads(record.read_text())["sources"] if record.exists() else []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--rounds", default=None, help="R for every model, or auto (default: each model's config)")
    args = parser.parse_args()
    rounds = None if args.rounds in (None, "auto") else int(args.rounds)
    rounds = "auto" if args.rounds == "auto" else rounds
    graphs = [load_graph(name) for name in args.graph or ["cora", "citeseer", "dblp"]]
    start = time.perf_counter()
    print("| model | graph | accuracy | macro-F1 | majority class | command |\n|---|---|---|---|---|---|")
    for name in args.model:
        model, trained_on = load_model(name, dtype=default_dtype("auto")), sources_of(name)
        apply_precision(model, "auto")
        for graph in graphs:
            if graph.name in trained_on:
                continue
            result = evaluate_graph(model, graph, num_rounds=rounds, cache=False)
            print(
                f"| {name}{' (trained on ' + ', '.join(trained_on) + ')' if trained_on else ''} | {graph.name} | "
                f"{100 * result.accuracy:.1f} | {100 * result.macro_f1:.1f} | {100 * result.majority_accuracy:.1f} | "
                f"`zerog eval --model {name} --graph {graph.name}"
                f"{'' if rounds is None else f' --rounds {rounds}'}` (R={result.settings['num_rounds']}) |",
                flush=True,
            )
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
