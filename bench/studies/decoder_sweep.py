"""Training-free choices for a decoder, on validation graphs only: node template x label template x layer x
pooling x label statistics, each scored at R auto with the registry's label texts and with class names only.

    python bench/studies/decoder_sweep.py --model smollm2 --graph jargon --graph verbs3k --graph gcide3k
    python bench/studies/decoder_sweep.py --model minilm --graph jargon --graph verbs3k --graph gcide3k \
        --template none --template prompteol --template task --template task-prefix --layers 3,-1

`verbs3k` and `gcide3k` are 3,000-node snowball samples (seed 0) of WordNet verbs and GCIDE; `jargon` is the whole
Jargon File graph (`bench/graphs.py`). None of them is a target graph of the reported tables (Cora, Citeseer, DBLP,
WordNet nouns). Settings are chosen on these three only; any other `--graph` (a name of `bench.graphs.bench_graph`)
reports the chosen settings, as in

    python bench/studies/decoder_sweep.py --model smollm2 --template prompteol --layers -1 \
        --graph cora --graph citeseer --graph dblp --graph wordnet10k

Each node template is encoded once, keeping the pooled states of every layer in `--layers`
(last token and mean) from one forward pass; label and description texts are encoded with each label template.
Prints one row per setting and graph, then each setting's mean over the graphs, best first; `--output` writes
every figure as JSON.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import machine  # noqa: E402
from bench.graphs import bench_graph, dictionary_graph, wordnet_verbs  # noqa: E402
from configuration_zerog import PROMPTEOL_TEMPLATE, TASK_TEMPLATE  # noqa: E402
from modeling_zerog import ZeroGPooling  # noqa: E402
from propagation_zerog import choose_rounds, score_graph  # noqa: E402
from zerog_graph.evaluate import GraphEmbeddings, score  # noqa: E402
from zerog_graph.models import load_model  # noqa: E402
from zerog_graph.precision import default_dtype  # noqa: E402
from zerog_graph.sampling import snowball_sample  # noqa: E402

VALIDATION = ("jargon", "verbs3k", "gcide3k")
# Candidate node templates (`{labels}`: the class names; `{description}`: the graph's description).
NODE_TEMPLATES = {
    "none": None,
    "prompteol": PROMPTEOL_TEMPLATE,
    "task": TASK_TEMPLATE,
    "task-described": '{description}\nCategories: {labels}.\nText: "{text}"\nThe category of this text in one word:"',
    "task-echo": 'Text: "{text}"\nThe same text again: "{text}"\nCategories: {labels}.\n'
    'The category of this text in one word:"',
    "task-prefix": "Categories: {labels}.\nText: {text}",  # for encoders: no answer slot
}
# Candidate label templates: "same" wraps a label text in the node template (the label as a node that states its
# class), "prompteol" in PromptEOL, "none" in nothing.
LABEL_TEMPLATES = ("same", "prompteol", "none")


def sweep_graph(name: str):
    """A validation graph (`VALIDATION`), or any graph of `bench_graph` to report a chosen setting on."""
    if name == "jargon":
        return dictionary_graph("jargon")
    if name == "verbs3k":
        return snowball_sample(wordnet_verbs(), 3000, seed=0)
    if name == "gcide3k":
        return snowball_sample(dictionary_graph("gcide"), 3000, seed=0)
    return bench_graph(name)


@torch.inference_mode()
def pooled_layers(model, texts, layers, template, graph, batch_size=16):
    """{(layer, pooling): [N, H]} from one forward pass per batch; -1 is the last layer's output."""
    model.config.template = template
    encoded = model.tokenize(texts, padding=False, labels=graph.label_names, description=graph.description)
    order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
    out = {(layer, pooling): [] for layer in layers for pooling in ("last", "mean")}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        columns = {k: [encoded[k][i] for i in rows] for k in ("input_ids", "attention_mask")}
        batch = dict(model.tokenizer.pad(columns, return_tensors="pt"))
        outputs = model.lm(**batch, output_hidden_states=True)
        for layer in layers:
            hidden = outputs.last_hidden_state if layer == -1 else outputs.hidden_states[layer]
            for pooling in ("last", "mean"):
                pooled = getattr(ZeroGPooling, f"pool_{pooling}")(hidden, batch["attention_mask"])
                out[layer, pooling].append(pooled.float())
    inverse = torch.argsort(torch.tensor(order))
    tokens = sum(len(ids) for ids in encoded["input_ids"]) / max(len(texts), 1)
    return {key: torch.cat(chunks)[inverse] for key, chunks in out.items()}, tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--graph", action="append", default=None, help=f"validation: {', '.join(VALIDATION)}")
    parser.add_argument("--template", action="append", default=None, choices=list(NODE_TEMPLATES))
    parser.add_argument("--layers", default="10,15,20,25,-1", help="hidden layers to pool, comma-separated")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--output", type=Path, help="write every figure here as JSON")
    args = parser.parse_args()
    layers = [int(layer) for layer in args.layers.split(",")]
    model = load_model(args.model, template="", dtype=default_dtype(args.dtype))
    print(f"model={args.model} dtype={next(model.lm.parameters()).dtype} layers={layers} machine: {machine()}")
    rows = []
    for graph_name in args.graph or ["jargon", "verbs3k"]:
        graph = sweep_graph(graph_name)
        for node_name in args.template or list(NODE_TEMPLATES):
            node_template = NODE_TEMPLATES[node_name]
            start = time.perf_counter()
            nodes, tokens = pooled_layers(model, graph.texts, layers, node_template, graph)
            seconds = time.perf_counter() - start
            description, _ = pooled_layers(model, [graph.description], layers, node_template, graph)
            for label_name in LABEL_TEMPLATES:
                label_template = {"same": node_template, "prompteol": PROMPTEOL_TEMPLATE, "none": None}[label_name]
                for label_texts in ("registry", "names"):
                    texts = graph.class_texts if label_texts == "registry" else graph.label_names
                    labels, _ = pooled_layers(model, texts, layers, label_template, graph)
                    for key in nodes:
                        embeds = GraphEmbeddings(nodes[key], description[key], labels[key])
                        for label_statistics in ("labels", "nodes"):
                            chosen, _ = choose_rounds(
                                embeds.nodes,
                                embeds.description,
                                embeds.labels,
                                graph.edge_index,
                                label_statistics=label_statistics,
                            )
                            logits = score_graph(
                                embeds.nodes,
                                embeds.description,
                                embeds.labels,
                                graph.edge_index,
                                chosen,
                                True,
                                label_statistics,
                            ).logits
                            accuracy, macro_f1, _ = score(logits, graph)
                            row = dict(
                                graph=graph_name,
                                node_template=node_name,
                                label_template=label_name,
                                label_texts=label_texts,
                                layer=key[0],
                                pooling=key[1],
                                label_statistics=label_statistics,
                                rounds=chosen,
                                accuracy=100 * accuracy,
                                macro_f1=100 * macro_f1,
                                tokens_per_node=tokens,
                                encode_seconds=seconds,
                            )
                            rows.append(row)
            print(f"{graph_name}: {node_name} encoded in {seconds:.0f} s, {tokens:.0f} tokens/node", flush=True)
            if args.output:
                args.output.write_text(json.dumps(rows, indent=1) + "\n")
    settings = {}
    for row in rows:
        key = tuple(row[k] for k in ("node_template", "label_template", "label_texts", "layer", "pooling"))
        settings.setdefault(key + (row["label_statistics"],), []).append(row["accuracy"])
    print("| node template | label template | label texts | layer | pooling | label statistics | mean accuracy |")
    print("|---|---|---|---|---|---|---|")
    for key, values in sorted(settings.items(), key=lambda item: -statistics.mean(item[1]))[:40]:
        print("| " + " | ".join(map(str, key)) + f" | {statistics.mean(values):.2f} |")


if __name__ == "__main__":
    main()
