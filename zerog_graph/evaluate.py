"""Zero-shot evaluation: embed (cached) -> prompt node + propagation -> cosine argmax -> metrics."""

import csv
from dataclasses import dataclass, field
from typing import Optional

import torch
from sklearn.metrics import f1_score

from modeling_zerog import zerog_logits

from .cache import EmbeddingCache, encode_sharded, model_fingerprint
from .graph import TextGraph
from .precision import precision_of


@dataclass
class GraphEmbeddings:
    """The pooled embeddings of one graph's texts, before propagation."""

    nodes: torch.Tensor
    description: torch.Tensor
    labels: torch.Tensor


@dataclass
class GraphResult:
    """Zero-shot scores of one graph; `logits` is `[N, C]` from `classify`, the settings are those used."""

    graph: str
    accuracy: float
    macro_f1: float
    num_scored: int
    majority_accuracy: float
    settings: dict
    logits: torch.Tensor = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "num_scored": self.num_scored,
            "majority_accuracy": self.majority_accuracy,
            "settings": self.settings,
        }


def embed_graph(
    model, graph: TextGraph, cache=None, batch_size: int = 32, show_progress_bar: bool = False
) -> GraphEmbeddings:
    """Node texts in one pass; description and label texts together in another, once per graph.

    `cache` is an `EmbeddingCache`, None for the default one, or False to encode without caching
    (as during training, where the adapter changes between evaluations)."""
    if cache is False:

        def encode(texts, progress=False):
            return encode_sharded(model, texts, batch_size, progress)
    else:
        cache, fingerprint = cache or EmbeddingCache(), model_fingerprint(model)

        def encode(texts, progress=False):
            return cache.encode(model, texts, fingerprint, batch_size, progress)

    nodes = encode(graph.texts, show_progress_bar)
    extra = encode([graph.description] + graph.class_texts)
    return GraphEmbeddings(nodes=nodes, description=extra[:1], labels=extra[1:])


def classify(embeds: GraphEmbeddings, graph: TextGraph, num_rounds: int, standardize: bool) -> torch.Tensor:
    """`[N, C]` scores of every node against every class: the propagated node's dot product with the
    unit label embeddings. Their argmax is the cosine argmax; propagating `C` columns instead of the
    hidden size makes a graph the size of ogbn-arxiv take about a second (`bench/propagation.py`)."""
    return zerog_logits(
        embeds.nodes, embeds.description, embeds.labels, graph.edge_index, num_rounds, standardize, cosine=False
    )


def score(logits: torch.Tensor, graph: TextGraph) -> tuple:
    """Accuracy and macro-F1 over the graph's evaluation mask."""
    mask = graph.eval_mask
    truth, predicted = graph.labels[mask], logits[mask].argmax(-1)
    accuracy = (predicted == truth).float().mean().item()
    macro_f1 = f1_score(
        truth.numpy(), predicted.numpy(), average="macro", labels=list(range(graph.num_classes)), zero_division=0
    )
    return accuracy, float(macro_f1), int(mask.sum())


def majority_accuracy(graph: TextGraph) -> float:
    """The accuracy of always answering the most frequent class, over the evaluation mask."""
    truth = graph.labels[graph.eval_mask]
    return torch.bincount(truth, minlength=graph.num_classes).max().item() / max(truth.numel(), 1)


def evaluate_graph(
    model,
    graph: TextGraph,
    num_rounds: Optional[int] = None,
    standardize: Optional[bool] = None,
    cache=None,
    batch_size: int = 32,
    show_progress_bar: bool = False,
) -> GraphResult:
    """Zero-shot accuracy and macro-F1 of `model` on `graph`; settings default to the model's config."""
    num_rounds = model.config.num_rounds if num_rounds is None else num_rounds
    standardize = model.config.standardize if standardize is None else standardize
    embeds = embed_graph(model, graph, cache, batch_size, show_progress_bar)
    logits = classify(embeds, graph, num_rounds, standardize)
    accuracy, macro_f1, num_scored = score(logits, graph)
    settings = {
        "model": model.config.lm_name_or_path,
        "pooling": model.pooling_mode,
        "template": model.config.template,
        "num_rounds": num_rounds,
        "standardize": standardize,
        "max_length": model.max_length,
        "dtype": precision_of(model),
    }
    return GraphResult(graph.name, accuracy, macro_f1, num_scored, majority_accuracy(graph), settings, logits)


def write_predictions(path, graph: TextGraph, logits: torch.Tensor):
    """A CSV row per node: node, predicted class, true class, then one score column per class."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["node", "predicted", "label"] + [f"score_{name}" for name in graph.label_names])
        predicted = logits.argmax(-1).tolist()
        for node, (row, label) in enumerate(zip(logits.tolist(), graph.labels.tolist())):
            writer.writerow(
                [node, graph.label_names[predicted[node]], graph.label_names[label] if label >= 0 else ""]
                + [f"{s:.5f}" for s in row]
            )
