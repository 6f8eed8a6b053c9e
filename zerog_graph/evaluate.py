"""Zero-shot evaluation: embed (cached) -> prompt node + propagation -> cosine argmax -> metrics."""

import csv
import re
from dataclasses import dataclass, field
from typing import Optional, Union

import torch

from checks_zerog import check_scoring_settings
from propagation_zerog import EmbeddingRows, PropagationGraph, score_graph

from .cache import EmbeddingCache, model_fingerprint
from .distributed import encode_sharded
from .graph import TextGraph
from .io import as_text_graph
from .paths import write_atomically
from .precision import precision_of


@dataclass
class GraphEmbeddings:
    """The pooled embeddings of one graph's texts, before propagation: `nodes` is `[N, H]`, a tensor or (from
    `embed_graph(..., as_rows=True)`) rows read a chunk at a time (`propagation_zerog.EmbeddingRows`)."""

    nodes: Union[torch.Tensor, EmbeddingRows]
    description: torch.Tensor
    labels: torch.Tensor


@dataclass
class GraphResult:
    """Zero-shot scores of one graph, with the settings used.

    `logits` (`[N, C]`) always holds each node's ranking scores: its propagated embedding's dot product with each
    class's unit label embedding, that is the cosine times the node's (positive) norm, so a row's argmax is the
    class of highest cosine; compare them within a row, not across nodes. `cosines` (`[N, C]`, the cosines
    themselves, in [-1, 1]) is filled when asked for (`with_cosines=True`), for the predictions CSV.
    `predictions` and `predicted_classes` are the argmax, as class indices and as names of `label_names`.

    The metrics are None when no node in the evaluation mask has a label (`num_scored` is 0)."""

    graph: str
    accuracy: Optional[float]
    macro_f1: Optional[float]
    num_scored: int
    majority_accuracy: Optional[float]
    settings: dict
    logits: torch.Tensor = field(repr=False)
    cosines: Optional[torch.Tensor] = field(default=None, repr=False)
    label_names: Optional[list] = field(default=None, repr=False)
    # the graph as it was scored (`propagation_zerog.PropagationGraph`: its unit label vectors, R's predictions under
    # auto, the memory-mapped node rows): what `zerog_graph.report` reads, with no second set-up
    scored: Optional[PropagationGraph] = field(default=None, repr=False)

    @property
    def num_nodes(self) -> int:
        return self.logits.size(0)

    @property
    def predictions(self) -> torch.Tensor:
        """`[N]`: the predicted class of each node, an index into `label_names`."""
        return self.logits.argmax(-1)

    @property
    def predicted_classes(self) -> list:
        """The name of each node's predicted class."""
        if self.label_names is None:
            raise ValueError("this GraphResult holds no label_names; evaluate_graph fills them")
        return [self.label_names[i] for i in self.predictions.tolist()]

    # the classes macro-F1 averages over: those among the scored nodes' labels and predictions (docs/evaluation.md)
    macro_f1_classes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "num_nodes": self.num_nodes,
            "macro_f1_classes": self.macro_f1_classes,
            "num_scored": self.num_scored,
            "majority_accuracy": self.majority_accuracy,
            "settings": self.settings,
        }


def embed_graph(
    model, graph: TextGraph, cache=None, batch_size: int = 32, show_progress_bar: bool = False, as_rows: bool = False
) -> GraphEmbeddings:
    """Node texts in one pass; the description and label texts in another, once per graph (two when their
    templates differ). Templates that use `{labels}` or `{description}` are filled with this graph's.

    `cache` is an `EmbeddingCache`, None for the default one, or False to encode without caching
    (as during training, where the adapter changes between evaluations). `as_rows=True` leaves the node
    embeddings where they are (memory-mapped cache shards) for `zerog_logits` to read a chunk at a time."""
    if not hasattr(model.config, "templates"):  # a folder's own older copy of the code (trust_remote_code)
        raise ValueError(
            f"{model.name_or_path}: its own code predates templates per kind of text; load it without "
            "--trust-remote-code (this project's code reads its config)"
        )
    fields = {"labels": graph.label_names, "description": graph.description}
    if cache is False:

        def rows(texts, progress=False, kind="node"):
            return EmbeddingRows(encode_sharded(model, texts, batch_size, progress, kind=kind, **fields))
    else:
        cache, fingerprint = cache or EmbeddingCache(), model_fingerprint(model)

        def rows(texts, progress=False, kind="node"):
            return cache.rows(model, texts, fingerprint, batch_size, progress, kind=kind, **fields)

    nodes = rows(graph.texts, show_progress_bar)
    nodes = nodes if as_rows else nodes.tensor()
    templates = model.config.templates
    if templates.description == templates.label:
        extra = rows([graph.description] + graph.class_texts, kind="label").tensor()
        return GraphEmbeddings(nodes=nodes, description=extra[:1], labels=extra[1:])
    description = rows([graph.description], kind="description").tensor()
    return GraphEmbeddings(nodes=nodes, description=description, labels=rows(graph.class_texts, kind="label").tensor())


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
    propagation: Optional[str] = None,
) -> GraphResult:
    """Zero-shot accuracy and macro-F1 of `model` on `graph`; settings default to the model's config.

    `graph` is a `TextGraph` or a PyG `Data` (read by `zerog_graph.from_pyg`). The scores come from
    `propagation_zerog.score_graph`, as `ZeroGModel.classify`'s do; `propagation` names its rule (default: the
    config's). `with_cosines=True` fills `result.cosines`, for `write_predictions`: the node embeddings themselves
    are then propagated too, a block of dimensions at a time, besides their `[N, C]` projection."""
    graph = as_text_graph(graph)
    num_rounds = model.config.num_rounds if num_rounds is None else num_rounds
    standardize = model.config.standardize if standardize is None else standardize
    label_statistics = label_statistics or model.config.label_statistics
    propagation = propagation or getattr(model.config, "propagation", "zerog")  # an older folder's own code has none
    check_scoring_settings(num_rounds, standardize, label_statistics, propagation, batch_size)
    if not (cache is None or cache is False or isinstance(cache, EmbeddingCache)):
        raise ValueError(f"cache must be an EmbeddingCache, None (the default one) or False (none), got {cache!r}")
    graph.check()  # a graph changed since it was built
    embeds = embed_graph(model, graph, cache, batch_size, show_progress_bar, as_rows=True)
    rounds_setting = num_rounds
    num_rounds, logits, cosines, diagnostics, scored = score_graph(
        embeds.nodes,
        embeds.description,
        embeds.labels,
        graph.edge_index,
        num_rounds,
        standardize,
        label_statistics,
        propagation,
        cosines=with_cosines,
    )
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
        # what auto read (propagation_zerog.RoundsDiagnostics: changed fraction per round, collapse, branch)
        "auto_rounds": diagnostics._asdict() if diagnostics is not None else None,
        "standardize": standardize,
        "label_statistics": label_statistics if standardize else None,  # unused without standardisation
        "propagation": propagation,
        "max_length": model.max_length,
        "dtype": precision_of(model),
        "confidence_temperature": 1 / model.config.logit_scale,
    }
    result = GraphResult(
        graph.name, accuracy, f1, num_scored, majority_accuracy(graph), settings, logits, cosines, graph.label_names
    )
    result.macro_f1_classes = [graph.label_names[c] for c in f1_classes]
    result.scored = scored
    return result


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
