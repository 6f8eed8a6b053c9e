"""Zero-shot evaluation: embed (cached) -> prompt node + propagation -> cosine argmax -> metrics."""

import csv
import re
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from configuration_zerog import LABEL_STATISTICS, check_num_rounds
from modeling_zerog import (
    choose_rounds,
    graph_statistics,
    prompt_adjacency,
    propagate,
    standardize_labels,
    zerog_logits,
)

from .cache import EmbeddingCache, model_fingerprint
from .distributed import encode_sharded
from .graph import TextGraph
from .io import write_atomically
from .precision import precision_of


@dataclass
class GraphEmbeddings:
    """The pooled embeddings of one graph's texts, before propagation."""

    nodes: torch.Tensor
    description: torch.Tensor
    labels: torch.Tensor


@dataclass
class GraphResult:
    """Zero-shot scores of one graph; `logits` is `[N, C]` from `classify`, the settings are those used.

    The metrics are None when no node in the evaluation mask has a label (`num_scored` is 0).
    `cosines` (`[N, C]`, the true cosine similarities) is filled when asked for, for predictions."""

    graph: str
    accuracy: Optional[float]
    macro_f1: Optional[float]
    num_scored: int
    majority_accuracy: Optional[float]
    settings: dict
    logits: torch.Tensor = field(repr=False)
    cosines: Optional[torch.Tensor] = field(default=None, repr=False)
    # the classes macro-F1 averages over: those among the scored nodes' labels and predictions (docs/evaluation.md)
    macro_f1_classes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_f1_classes": self.macro_f1_classes,
            "num_scored": self.num_scored,
            "majority_accuracy": self.majority_accuracy,
            "settings": self.settings,
        }


def embed_graph(
    model, graph: TextGraph, cache=None, batch_size: int = 32, show_progress_bar: bool = False
) -> GraphEmbeddings:
    """Node texts in one pass; the description and label texts in another, once per graph (two when their
    templates differ). Templates that use `{labels}` or `{description}` are filled with this graph's.

    `cache` is an `EmbeddingCache`, None for the default one, or False to encode without caching
    (as during training, where the adapter changes between evaluations)."""
    if not hasattr(model.config, "templates"):  # a folder's own older copy of the code (trust_remote_code)
        raise ValueError(
            f"{model.name_or_path}: its own code predates templates per kind of text; load it without "
            "--trust-remote-code (this project's code reads its config)"
        )
    fields = {"labels": graph.label_names, "description": graph.description}
    if cache is False:

        def encode(texts, progress=False, kind="node"):
            return encode_sharded(model, texts, batch_size, progress, kind=kind, **fields)
    else:
        cache, fingerprint = cache or EmbeddingCache(), model_fingerprint(model)

        def encode(texts, progress=False, kind="node"):
            return cache.encode(model, texts, fingerprint, batch_size, progress, kind=kind, **fields)

    nodes = encode(graph.texts, show_progress_bar)
    templates = model.config.templates
    if templates.description == templates.label:
        extra = encode([graph.description] + graph.class_texts, kind="label")
        return GraphEmbeddings(nodes=nodes, description=extra[:1], labels=extra[1:])
    description, labels = encode([graph.description], kind="description"), encode(graph.class_texts, kind="label")
    return GraphEmbeddings(nodes=nodes, description=description, labels=labels)


def classify(
    embeds: GraphEmbeddings, graph: TextGraph, num_rounds: int, standardize: bool, label_statistics: str = "labels"
) -> torch.Tensor:
    """`[N, C]` scores of every node against every class: the propagated node's dot product with the
    unit label embeddings. Their argmax is the cosine argmax; propagating `C` columns instead of the
    hidden size makes a graph the size of ogbn-arxiv take about a second (`bench/propagation.py`)."""
    return zerog_logits(
        embeds.nodes,
        embeds.description,
        embeds.labels,
        graph.edge_index,
        num_rounds,
        standardize,
        cosine=False,
        label_statistics=label_statistics,
    )


def propagated_cosines(
    embeds: GraphEmbeddings,
    graph: TextGraph,
    num_rounds: int,
    standardize: bool,
    label_statistics: str = "labels",
    chunk_size: int = 64,
) -> torch.Tensor:
    """`[N, C]` cosine of each node's propagated embedding with each class's label embedding. Numerator and norm
    are summed over the same `chunk_size` dimensions of the same propagated vectors (propagation is linear and
    standardisation per dimension), so no `[N, H]` propagated tensor is held and the cosine stays in [-1, 1]:
    `classify`'s scores over a separately computed norm do not, where the standardised vectors are all but
    zero (nodes of identical texts), and gave cosines of 49."""
    x = torch.cat([embeds.nodes, embeds.description]).float()
    num_nodes = graph.num_nodes
    adj = prompt_adjacency(graph.edge_index, torch.zeros(num_nodes, dtype=torch.long, device=x.device))
    mean, scale = graph_statistics(x) if standardize else (torch.zeros_like(x[:1]), torch.ones_like(x[:1]))
    labels = embeds.labels.float()
    if standardize:
        labels = standardize_labels(labels, None, (mean, scale), label_statistics)
    labels = F.normalize(labels, dim=-1)
    squares = torch.zeros(num_nodes, device=x.device)
    dots = torch.zeros(num_nodes, labels.size(0), device=x.device)
    for part, part_mean, part_scale, part_labels in zip(
        *(t.split(chunk_size, dim=1) for t in (x, mean, scale, labels))
    ):
        propagated = propagate((part - part_mean) * part_scale, adj, num_rounds)[:num_nodes]
        squares += propagated.square().sum(-1)
        dots += propagated @ part_labels.T
    norms = squares.sqrt().clamp(min=torch.finfo(squares.dtype).tiny).unsqueeze(1)
    return (dots / norms).clamp(-1, 1)  # the clamp only absorbs rounding


def score(logits: torch.Tensor, graph: TextGraph) -> tuple:
    """Accuracy and macro-F1 over the graph's evaluation mask; None for both when it has no labelled node.
    Accuracy is the exact fraction of right answers; macro-F1 is `macro_f1`'s."""
    mask = graph.eval_mask
    if not mask.any():
        return None, None, 0
    truth, predicted = graph.labels[mask], logits[mask].argmax(-1)
    num_scored = int(mask.sum())
    accuracy = int((predicted == truth).sum()) / num_scored
    return accuracy, macro_f1(truth, predicted, graph.num_classes)[0], num_scored


def macro_f1(truth: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> tuple:
    """`(macro-F1, classes)`: the mean F1 over the classes that occur among the scored nodes' true labels or
    predictions (`classes`, their indices), as scikit-learn's `f1_score(average="macro")` without `labels=`.
    A class that no scored node has and none is predicted as has no F1, rather than an F1 of 0."""
    true_counts = torch.bincount(truth, minlength=num_classes)
    predicted_counts = torch.bincount(predicted, minlength=num_classes)
    hits = torch.bincount(truth[truth == predicted], minlength=num_classes)
    classes = ((true_counts + predicted_counts) > 0).nonzero().flatten()
    f1 = [2 * int(hits[c]) / (int(true_counts[c]) + int(predicted_counts[c])) for c in classes.tolist()]
    return sum(f1) / len(f1), classes.tolist()


def majority_accuracy(graph: TextGraph) -> Optional[float]:
    """The accuracy of always answering the most frequent class, over the evaluation mask (None if empty)."""
    truth = graph.labels[graph.eval_mask]
    if truth.numel() == 0:
        return None
    return torch.bincount(truth, minlength=graph.num_classes).max().item() / truth.numel()


def evaluate_graph(
    model,
    graph: TextGraph,
    num_rounds: Optional[int] = None,
    standardize: Optional[bool] = None,
    cache=None,
    batch_size: int = 32,
    show_progress_bar: bool = False,
    with_cosines: bool = False,
    label_statistics: Optional[str] = None,
) -> GraphResult:
    """Zero-shot accuracy and macro-F1 of `model` on `graph`; settings default to the model's config.

    `with_cosines=True` fills `result.cosines`, for `write_predictions`: the node embeddings are then
    propagated in chunks of dimensions (`propagated_cosines`) instead of as their `[N, C]` projection
    (`classify`), and the cosines are the logits, so the graph is propagated once either way."""
    num_rounds = model.config.num_rounds if num_rounds is None else check_num_rounds(num_rounds, "num_rounds")
    standardize = model.config.standardize if standardize is None else standardize
    label_statistics = label_statistics or model.config.label_statistics
    check_settings(standardize, label_statistics, batch_size)
    if not (cache is None or cache is False or isinstance(cache, EmbeddingCache)):
        raise ValueError(f"cache must be an EmbeddingCache, None (the default one) or False (none), got {cache!r}")
    graph.check()  # a graph changed since it was built
    embeds = embed_graph(model, graph, cache, batch_size, show_progress_bar)
    rounds_setting, diagnostics = num_rounds, None
    if num_rounds == "auto":  # from the embeddings and the edges: the labels are not passed
        num_rounds, diagnostics = choose_rounds(
            embeds.nodes,
            embeds.description,
            embeds.labels,
            graph.edge_index,
            standardize,
            label_statistics=label_statistics,
        )
    if with_cosines:
        logits = propagated_cosines(embeds, graph, num_rounds, standardize, label_statistics)
    else:
        logits = classify(embeds, graph, num_rounds, standardize, label_statistics)
    accuracy, f1, num_scored = score(logits, graph)
    mask = graph.eval_mask
    f1_classes = macro_f1(graph.labels[mask], logits[mask].argmax(-1), graph.num_classes)[1] if num_scored else []
    settings = {
        "model": model.config.lm_name_or_path,
        "pooling": model.pooling_mode,
        "template": model.config.template,
        "label_template": model.config.templates.label,
        "description_template": model.config.templates.description,
        "hidden_layer": model.config.hidden_layer,
        "num_rounds": num_rounds,
        "rounds": rounds_setting,
        # what auto read (modeling_zerog.RoundsDiagnostics: changed fraction per round, collapse, branch)
        "auto_rounds": diagnostics._asdict() if diagnostics is not None else None,
        "standardize": standardize,
        "label_statistics": label_statistics if standardize else None,  # unused without standardisation
        "max_length": model.max_length,
        "dtype": precision_of(model),
        "confidence_temperature": 1 / model.config.logit_scale,
    }
    result = GraphResult(graph.name, accuracy, f1, num_scored, majority_accuracy(graph), settings, logits)
    result.cosines = logits if with_cosines else None
    result.macro_f1_classes = [graph.label_names[c] for c in f1_classes]
    return result


def check_settings(standardize, label_statistics, batch_size) -> None:
    """Refuses `evaluate_graph` arguments of the wrong type or range (the CLI checks its options likewise)."""
    if not isinstance(standardize, bool):
        raise ValueError(f"standardize must be True or False, got {standardize!r}")
    if label_statistics not in LABEL_STATISTICS:
        raise ValueError(f"label_statistics must be one of {LABEL_STATISTICS}, got {label_statistics!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


# OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(cell: str) -> str:
    """A text cell that a spreadsheet shows as text: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage
    return gets a leading `'` (OWASP, "CSV Injection"); a plain number such as `-3` is left as it is."""
    return "'" + cell if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell) else cell


def write_predictions(path, graph: TextGraph, result: GraphResult, overwrite: bool = True):
    """A CSV row per node: its id, the predicted class, the confidence, the true class (empty where
    unlabelled), then the cosine with each class. The confidence is the softmax of the cosines divided
    by `result.settings["confidence_temperature"]`, the model's `1 / logit_scale`: the scale that its
    training loss puts on the cosines (10 by default, so cosines 0.1 apart weigh e to 1).

    Ids and class names are escaped for spreadsheets (`spreadsheet_safe`). The file is written whole or not
    at all, never through a symlink, and without `overwrite` never over an existing file (`write_atomically`)."""
    if result.cosines is None:
        raise ValueError("write_predictions needs the cosines: evaluate_graph(..., with_cosines=True)")
    cosines = result.cosines.float()
    confidence = torch.softmax(cosines / result.settings["confidence_temperature"], dim=-1)
    predicted = result.logits.argmax(-1)
    node_ids = graph.node_ids or range(graph.num_nodes)
    names = [spreadsheet_safe(name) for name in graph.label_names]

    def write(f):
        writer = csv.writer(f)
        writer.writerow(
            ["node", "predicted", "confidence", "label"] + [f"cosine_{name}" for name in graph.label_names]
        )
        for node, best, label, probs, row in zip(
            node_ids, predicted.tolist(), graph.labels.tolist(), confidence.tolist(), cosines.tolist()
        ):
            truth = names[label] if label >= 0 else ""
            writer.writerow(
                [spreadsheet_safe(str(node)), names[best], f"{probs[best]:.4f}", truth] + [f"{c:.5f}" for c in row]
            )

    write_atomically(path, write, overwrite)
