"""`--rounds auto` against every fixed R: accuracy per R, the R that auto chooses, what it read, and its accuracy.

    python bench/rounds.py --model minilm --graph cora --graph citeseer --graph dblp --graph wordnet
    python bench/rounds.py --model smollm2 --graph cora --graph citeseer --graph dblp --graph wordnet10k
    python bench/rounds.py --graph jargon --label-statistics nodes --output rounds.json

Each graph is embedded once (cached). `auto` (`modeling_zerog.choose_rounds`) sees the embeddings and
the edges only; the labels are read afterwards, to score every R. `wordnet10k` is the fixed
10,000-node sample of WordNet nouns that the transfer benchmark uses for SmolLM2, `wordnet-verbs` the
verb graph that was not looked at when the rule was set; `gcide` and `jargon` the dictionary graphs
(Debian's dict-gcide and dict-jargon): all four are built by `bench/graphs.py`. Prints, per graph,
the accuracy (%) at R = 0..10, the fraction of predictions each round changed, the collapse at the
last candidate when auto computed it, the branch of the rule that chose R, auto's R and accuracy;
then a summary table (best fixed R, R=2, auto and the gaps) and the means over the graphs.
`--output` writes the same per graph as JSON.
"""

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine  # noqa: E402
from bench.graphs import bench_graph  # noqa: E402
from configuration_zerog import (  # noqa: E402
    AUTO_ROUNDS,
    AUTO_ROUNDS_COLLAPSE,
    AUTO_ROUNDS_TOLERANCE,
    LABEL_STATISTICS,
    ZEROG_ROUNDS,
)
from propagation_zerog import choose_rounds, score_graph  # noqa: E402
from zerog_graph.evaluate import embed_graph, score  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402


def rule_text(row: dict) -> str:
    """The branch of `choose_rounds` that chose R, with the collapse it read."""
    if row["collapse"] is None:
        return f"settled (< {100 * AUTO_ROUNDS_TOLERANCE:g}%)"
    sign = "<" if row["branch"] == "not collapsing" else ">="
    return f"{row['branch']}: collapse {row['collapse']:.3f} {sign} {AUTO_ROUNDS_COLLAPSE}"


def measure(model, name: str, label_statistics: str) -> dict:
    graph = bench_graph(name)
    embeds = embed_graph(model, graph)
    chosen, diagnostics = choose_rounds(
        embeds.nodes, embeds.description, embeds.labels, graph.edge_index, label_statistics=label_statistics
    )
    accuracy = {
        r: 100
        * score(
            score_graph(
                embeds.nodes, embeds.description, embeds.labels, graph.edge_index, r, True, label_statistics
            ).logits,
            graph,
        )[0]
        for r in AUTO_ROUNDS
    }
    best_r = max(AUTO_ROUNDS, key=lambda r: (accuracy[r], -r))
    return {
        "num_nodes": graph.num_nodes,
        "auto_R": chosen,
        "branch": diagnostics.branch,
        "changed": diagnostics.changed,
        "collapse": diagnostics.collapse,
        "accuracy": accuracy,
        "best_R": best_r,
        "auto": accuracy[chosen],
        "best": accuracy[best_r],
        "R2": accuracy[ZEROG_ROUNDS],
    }


def main():
    torch.set_num_threads(1)  # as studies/rounds_study.py: the figures are accuracies, not timings
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument(
        "--label-statistics",
        default="labels",
        choices=LABEL_STATISTICS,
        help="what standardises the label vectors, for auto and for every R (default: labels, ZeroG's)",
    )
    parser.add_argument("--output", default=None, help="JSON file: per graph, auto's R, what it read, accuracy per R")
    args = parser.parse_args()
    model = load_model(args.model, dtype=default_dtype(args.dtype))
    dtype = next(model.lm.parameters()).dtype
    print(f"model={args.model} dtype={dtype} label_statistics={args.label_statistics} machine: {machine()}")
    print("| graph | " + " | ".join(f"R={r}" for r in AUTO_ROUNDS) + " | auto R | auto | rule |")
    print("|---|" + "---|" * (len(AUTO_ROUNDS) + 3))
    results = {}
    for name in args.graph or ["cora", "citeseer", "dblp"]:
        row = results[name] = measure(model, name, args.label_statistics)
        accuracy = row["accuracy"]
        print(
            f"| {name} | "
            + " | ".join(f"{accuracy[r]:.1f}" for r in AUTO_ROUNDS)
            + f" | {row['auto_R']} | {row['auto']:.1f} | {rule_text(row)} |"
        )
        changed = " | ".join(f"{100 * c:.1f}%" for c in row["changed"])
        print(f"|   changed by round | - | {changed} | | | |", flush=True)
    print("\n| graph | best R | best | R=2 | auto R | auto | auto - best | auto - R=2 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['best_R']} | {row['best']:.1f} | {row['R2']:.1f} | {row['auto_R']} | "
            f"{row['auto']:.1f} | {row['auto'] - row['best']:+.1f} | {row['auto'] - row['R2']:+.1f} |"
        )
    means = {key: statistics.mean(row[key] for row in results.values()) for key in ("auto", "R2", "best")}
    names = {"auto": "auto", "R2": "R=2", "best": "best fixed R"}
    print("mean over graphs: " + ", ".join(f"{names[key]} {value:.2f}" for key, value in means.items()))
    if args.output:
        settings = {
            "model": args.model,
            "dtype": str(dtype),
            "label_statistics": args.label_statistics,
            "tolerance": AUTO_ROUNDS_TOLERANCE,
            "collapse_ceiling": AUTO_ROUNDS_COLLAPSE,
            "machine": machine(),
            "date": datetime.date.today().isoformat(),
        }
        output = {"settings": settings, "graphs": results, "mean": means}
        Path(args.output).write_text(json.dumps(output, indent=1) + "\n")


if __name__ == "__main__":
    main()
