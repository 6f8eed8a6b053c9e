"""`--rounds auto` against every fixed R: accuracy per R, the R that auto chooses, and its accuracy.

    python bench/rounds.py --model minilm --graph cora --graph citeseer --graph dblp --graph wordnet
    python bench/rounds.py --model smollm2 --graph cora --graph citeseer --graph dblp --graph wordnet10k

Each graph is embedded once (cached). `auto` (`modeling_zerog.choose_rounds`) sees the embeddings and
the edges only; the labels are read afterwards, to score every R. `wordnet10k` is the fixed
10,000-node sample of WordNet nouns that the transfer benchmark uses for SmolLM2, `wordnet-verbs` the
verb graph that was not looked at when the rule was set (`transfer_graphs.py`); `gcide` and `jargon`
the dictionary graphs of `dict_graphs.py` (Debian's dict-gcide and dict-jargon). Prints, per graph,
the accuracy (%) at R = 0..10, the fraction of predictions each round changed, auto's R and accuracy,
and the gap to the best fixed R; then the mean over the graphs of auto, R=2 and the best fixed R.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dict_graphs import BUILDERS, dictionary_graph  # noqa: E402
from transfer_graphs import machine, wordnet_sample, wordnet_verbs  # noqa: E402

from configuration_zerog import AUTO_ROUNDS  # noqa: E402
from modeling_zerog import choose_rounds  # noqa: E402
from zerog_graph.evaluate import classify, embed_graph, score  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402


def bench_graph(name: str):
    """A graph by name: the registry's, `wordnet10k`, `wordnet-verbs` or a dictionary graph (`dict_graphs.py`)."""
    bench_graphs = {"wordnet10k": wordnet_sample, "wordnet-verbs": wordnet_verbs}
    if name in bench_graphs:
        return bench_graphs[name]()
    return dictionary_graph(name) if name in BUILDERS else load_graph(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    args = parser.parse_args()
    model = load_model(args.model, dtype=default_dtype(args.dtype))
    print(f"model={args.model} dtype={next(model.lm.parameters()).dtype} machine: {machine()}")
    print("| graph | " + " | ".join(f"R={r}" for r in AUTO_ROUNDS) + " | auto R | auto | best - auto |")
    print("|---|" + "---|" * (len(AUTO_ROUNDS) + 3))
    totals = {"auto": [], "R=2": [], "best": []}
    for name in args.graph or ["cora", "citeseer", "dblp"]:
        graph = bench_graph(name)
        embeds = embed_graph(model, graph)
        chosen, changed = choose_rounds(embeds.nodes, embeds.description, embeds.labels, graph.edge_index)
        accuracy = {r: 100 * score(classify(embeds, graph, r, True), graph)[0] for r in AUTO_ROUNDS}
        best = max(accuracy.values())
        print(
            f"| {name} | "
            + " | ".join(f"{accuracy[r]:.1f}" for r in AUTO_ROUNDS)
            + f" | {chosen} | {accuracy[chosen]:.1f} | {best - accuracy[chosen]:.2f} |"
        )
        print("|   changed by round | - | " + " | ".join(f"{100 * c:.1f}%" for c in changed) + " | | | |", flush=True)
        totals["auto"].append(accuracy[chosen])
        totals["R=2"].append(accuracy[2])
        totals["best"].append(best)
    print("mean over graphs: " + ", ".join(f"{k} {statistics.mean(v):.2f}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
