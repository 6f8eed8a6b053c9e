"""Label vectors standardised with their own statistics (ZeroG, `label_statistics="labels"`) or with the graph's
node statistics (`"nodes"`), at R auto: on each whole graph, and on random subsets of its classes.

    python bench/studies/label_statistics.py --model minilm --graph jargon --graph gcide --graph wordnet-verbs
    python bench/studies/label_statistics.py --model minilm --graph cora --graph citeseer --graph dblp --graph wordnet

For each graph and label texts (the registry's, and the class names only): accuracy (%) of both rules on the whole
graph, then the mean over `--subsets` random class subsets of each size from 2 to min(C, 7), scored on the nodes of
those classes (the graph and its propagation unchanged). R auto is chosen per case from the unlabelled graph.
"""

import argparse
import random
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import machine  # noqa: E402
from bench.graphs import bench_graph  # noqa: E402
from propagation_zerog import choose_rounds, zerog_logits  # noqa: E402
from zerog_graph.evaluate import embed_graph  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402

RULES = ("labels", "nodes")


def accuracy(embeds, graph, label_embeds, classes, rule) -> float:
    """R auto accuracy over the labelled evaluation nodes of `classes`, scoring those classes only."""
    chosen, _ = choose_rounds(embeds.nodes, embeds.description, label_embeds, graph.edge_index, label_statistics=rule)
    logits = zerog_logits(
        embeds.nodes, embeds.description, label_embeds, graph.edge_index, chosen, cosine=False, label_statistics=rule
    )
    truth = graph.labels
    mask = graph.eval_mask & torch.isin(truth, torch.tensor(classes))
    predicted = torch.tensor(classes)[logits[mask].argmax(-1)]
    return 100 * (predicted == truth[mask]).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--template", default=None, help="as zerog's --template (default: the model's)")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--subsets", type=int, default=10, help="random class subsets per size")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    args = parser.parse_args()
    model = load_model(args.model, template=args.template, dtype=default_dtype(args.dtype))
    print(f"model={args.model} template={model.config.template!r} machine: {machine()}")
    print("| graph | label texts | classes | labels | nodes | nodes - labels |")
    print("|---|---|---|---|---|---|")
    gains = []
    for name in args.graph or ["jargon", "gcide", "wordnet-verbs"]:
        graph = bench_graph(name)
        for label_texts in ("registry", "names"):
            if label_texts == "names":
                graph.label_texts = None  # the class names stand for the label texts
            embeds = embed_graph(model, graph)
            rng = random.Random(0)
            sizes = [graph.num_classes] + list(range(2, min(graph.num_classes, 7) + 1))
            for size in dict.fromkeys(sizes):
                draws = 1 if size == graph.num_classes else args.subsets
                scores = {rule: [] for rule in RULES}
                for _ in range(draws):
                    classes = sorted(rng.sample(range(graph.num_classes), size))
                    for rule in RULES:
                        scores[rule].append(accuracy(embeds, graph, embeds.labels[classes], classes, rule))
                means = {rule: statistics.mean(values) for rule, values in scores.items()}
                gains.append(means["nodes"] - means["labels"])
                where = "all" if size == graph.num_classes else f"{size} ({draws} subsets)"
                print(
                    f"| {name} | {label_texts} | {where} | {means['labels']:.1f} | {means['nodes']:.1f} | "
                    f"{gains[-1]:+.1f} |",
                    flush=True,
                )
    print(
        f"mean of nodes - labels over the rows: {statistics.mean(gains):+.2f}; rows where nodes is lower: "
        f"{sum(gain < 0 for gain in gains)} of {len(gains)}"
    )


if __name__ == "__main__":
    main()
