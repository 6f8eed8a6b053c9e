"""How the zero-shot defaults were chosen: accuracy over rounds R, standardisation and label texts.

    python bench/studies/sweep_defaults.py --model minilm --graph cora --graph citeseer --graph dblp
    python bench/studies/sweep_defaults.py --model smollm2 --graph cora --template ''   # no template

Each graph is embedded once (cached); every setting then only re-propagates. Prints one row per
(graph, label texts, standardise) with the accuracy (%) at each R, over all labelled nodes.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.graphs import use_shared_data  # noqa: E402
from propagation_zerog import score_graph  # noqa: E402
from zerog_graph.evaluate import embed_graph, score  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402

ROUNDS = (0, 1, 2, 3, 4, 6, 8, 10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--graph", action="append", default=None)
    parser.add_argument("--pooling", default=None)
    parser.add_argument("--template", default=None, help="'' for none; default: the model's default")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    args = parser.parse_args()
    use_shared_data()
    model = load_model(args.model, pooling_mode=args.pooling, template=args.template, dtype=default_dtype(args.dtype))
    print(
        f"model={args.model} pooling={model.pooling_mode} template={model.config.template!r} "
        f"dtype={next(model.lm.parameters()).dtype}"
    )
    print(f"{'graph':<10} {'label texts':<12} {'standardise':<12} " + " ".join(f"R={r:<4}" for r in ROUNDS))
    for name in args.graph or ["cora", "citeseer", "dblp"]:
        for label_texts in (True, False):
            graph = load_graph(name, label_texts=label_texts)
            embeds = embed_graph(model, graph)
            for standardize in (True, False):
                accuracies = [
                    100
                    * score(
                        score_graph(
                            embeds.nodes, embeds.description, embeds.labels, graph.edge_index, r, standardize
                        ).logits,
                        graph,
                    )[0]
                    for r in ROUNDS
                ]
                print(
                    f"{name:<10} {str(label_texts):<12} {str(standardize):<12} "
                    + " ".join(f"{a:<6.1f}" for a in accuracies),
                    flush=True,
                )


if __name__ == "__main__":
    main()
