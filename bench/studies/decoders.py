"""Training-free accuracy per template, with the registry's label texts and with class names only, at R auto, with
the cost of each template (tokens per node and encoding speed, timed in the same run).

    python bench/studies/decoders.py --model smollm2 --template prompteol --template task \
        --graph cora --graph citeseer --graph dblp --graph wordnet10k
    python bench/studies/decoders.py --model minilm --template none --template task \
        --graph cora --graph citeseer --graph dblp --graph wordnet

Every figure is what `zerog eval --model M --template T --graph G` gives (embeddings cached). The speed is
`model.encode` on each graph's first `--timed` node texts, uncached, after one warm-up batch. Prints one row per
graph, template and label texts, then the means per template and label texts; `--output` writes them as JSON.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import machine  # noqa: E402
from bench.graphs import bench_graph  # noqa: E402
from zerog_graph.evaluate import evaluate_graph  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402


def speed(model, graph, count: int) -> tuple:
    """Tokens per node over the whole graph, and node texts encoded per second on its first `count` texts."""
    fields = {"labels": graph.label_names, "description": graph.description}
    encoded = model.tokenize(graph.texts, padding=False, **fields)
    tokens = sum(len(ids) for ids in encoded["input_ids"]) / graph.num_nodes
    texts = graph.texts[:count]
    model.encode(texts[:8], **fields)  # warm-up
    start = time.perf_counter()
    model.encode(texts, **fields)
    return tokens, len(texts) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--template", action="append", default=None, help="a named template, a string, or none")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--label-statistics", default=None, choices=["labels", "nodes"])
    parser.add_argument("--hidden-layer", type=int, default=None)
    parser.add_argument("--timed", type=int, default=128, help="node texts timed per graph")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    overrides = {"label_statistics": args.label_statistics, "hidden_layer": args.hidden_layer}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    print(f"model={args.model} {overrides} machine: {machine()}")
    print("| graph | template | label texts | accuracy | macro-F1 | R | tokens/node | nodes/s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for template in args.template or [None]:
        model = load_model(
            args.model, template="" if template == "none" else template, dtype=default_dtype(args.dtype), **overrides
        )
        for name in args.graph or ["cora", "citeseer", "dblp"]:
            graph = bench_graph(name)
            tokens, per_second = speed(model, graph, args.timed)
            for label_texts in ("registry", "names"):
                if label_texts == "names":
                    graph.label_texts = None  # the class names stand for the label texts
                result = evaluate_graph(model, graph)
                row = dict(
                    graph=name,
                    template=template or "default",
                    label_texts=label_texts,
                    accuracy=100 * result.accuracy,
                    macro_f1=100 * result.macro_f1,
                    rounds=result.settings["num_rounds"],
                    tokens_per_node=tokens,
                    nodes_per_second=per_second,
                    settings=result.settings,
                )
                rows.append(row)
                print(
                    f"| {name} | {row['template']} | {label_texts} | {row['accuracy']:.1f} | {row['macro_f1']:.1f} | "
                    f"{row['rounds']} | {tokens:.0f} | {per_second:.1f} |",
                    flush=True,
                )
    means = {}
    for row in rows:
        means.setdefault((row["template"], row["label_texts"]), []).append(row)
    for (template, label_texts), group in means.items():
        accuracy = statistics.mean(r["accuracy"] for r in group)
        macro_f1 = statistics.mean(r["macro_f1"] for r in group)
        print(f"mean {template} {label_texts}: accuracy {accuracy:.2f}, macro-F1 {macro_f1:.2f} ({len(group)} graphs)")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
