"""`--report DIR`: a static page of what the model understood: confusions, label texts that collide, and the nodes
behind each class, with or without labels (docs/evaluation.md, "The report").

Everything is computed from what `evaluate_graph` already holds (`GraphResult.logits` and `.scored`): no text
is encoded again, and the only propagation added is the `[N, C]` projection for the accuracy at each R (labelled
graphs)."""

import html
import json
import os
from pathlib import Path

import torch

from configuration_zerog import AUTO_ROUNDS, AUTO_ROUNDS_COLLAPSE, AUTO_ROUNDS_TOLERANCE

from .evaluate import GraphResult
from .graph import TextGraph
from .io import as_text_graph
from .paths import write_atomically

REPORT_ROUNDS = AUTO_ROUNDS  # the R of the accuracy curve: the candidates of `auto`
CONFUSED_PAIRS = 5  # the most confused (true, predicted) pairs shown
PAIR_EXAMPLES = 3  # node texts shown for each confused pair
CLASS_EXAMPLES = 4  # the most sure and the borderline nodes shown for each class
CLOSE_LABELS = 5  # label-text pairs of highest cosine flagged
TEXT_CHARACTERS = 240  # a node text is cut to this length on the page
CELL_NUMBERS = 30  # up to this many classes, the confusion matrix prints its counts in the cells
SIMILARITY_NUMBERS = 12  # and the label similarity its cosines (its closest pairs are a table on the page)
FIGURES = ("confusion", "per_class", "sizes", "margins", "label_similarity", "rounds")
REPORT_FILES = ("index.html", "report.json") + tuple(f"{name}.png" for name in FIGURES)
CONTENT_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'none'"


def check_report_dir(directory, overwrite: bool = False, option: str = "--report") -> Path:
    """Refuses, before any work and without creating anything, a report folder that cannot be written: a symlink
    (dangling or not), a file, a folder below a file, a place that cannot be written, and a folder that is not empty
    without `overwrite`. Each error is one line naming the path."""
    from .cli import check_writable

    directory = Path(directory)
    if directory.is_symlink():
        raise ValueError(f"{option} {directory} is a symlink; a report is never written through one")
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{option} {directory} is a file, not a folder")
    existing = next(folder for folder in [directory, *directory.parents] if os.path.lexists(folder))
    if not existing.is_dir():
        raise ValueError(f"{option} {directory}: {existing} is not a folder")
    try:
        check_writable(existing, option)
    except OSError as error:
        raise OSError(f"{option} {directory}: {error}") from None
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise ValueError(
            f"{option} {directory} is a folder that is not empty; pass --overwrite (overwrite=True) to replace it"
        )
    return directory


def matplotlib_classes():
    """matplotlib's `Figure`, the Agg canvas (no pyplot, no display) and `Rectangle`; a one-line ImportError when
    matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:
        raise ImportError(
            "the report needs matplotlib: pip install 'zerog-hf[report]' (or pip install matplotlib)"
        ) from None
    return Figure, FigureCanvasAgg, Rectangle


def label_similarity(result: GraphResult) -> torch.Tensor:
    """`[C, C]` cosines of the label embeddings as the classifier scored with them: the evaluation's own unit label
    vectors, after its standardisation (`PropagationGraph.labels`)."""
    labels = result.scored.labels
    return labels @ labels.T


def accuracy_by_rounds(result: GraphResult, graph: TextGraph, mask: torch.Tensor) -> list:
    """Accuracy over `mask` at each R of `REPORT_ROUNDS`: the predictions `auto` computed, else one propagation of
    the `[N, C]` projection of the evaluated graph."""
    scored, truth = result.scored, graph.labels[mask]
    if all(rounds in scored.predictions_by_round for rounds in REPORT_ROUNDS):
        predictions = [scored.predictions_by_round[rounds][mask] for rounds in REPORT_ROUNDS]
    else:
        predictions = scored.scores(tuple(REPORT_ROUNDS), cosine=False, reduce=lambda scores: scores[mask].argmax(-1))
    return [int((predicted == truth).sum()) / len(truth) for predicted in predictions]


def node_text(graph: TextGraph, node: int) -> dict:
    """A node's id and its text, cut to `TEXT_CHARACTERS`."""
    text = graph.texts[node]
    text = text if len(text) <= TEXT_CHARACTERS else text[: TEXT_CHARACTERS - 1] + "…"
    return {"node": str(graph.node_ids[node]) if graph.node_ids else str(node), "index": node, "text": text}


def class_examples(graph: TextGraph, predicted: torch.Tensor, margin: torch.Tensor) -> list:
    """For each class, the nodes predicted as it with the highest margin and those with the lowest (borderline):
    one sort of all nodes by (class, margin), so that a graph of millions of nodes costs a sort, not a loop."""
    order = torch.argsort(margin, stable=True)
    order = order[torch.argsort(predicted[order], stable=True)]  # by class, then by margin within a class
    counts = torch.bincount(predicted, minlength=len(graph.label_names))
    ends = torch.cumsum(counts, 0)
    examples = []
    for c, (end, count) in enumerate(zip(ends.tolist(), counts.tolist())):
        members = order[end - count : end]
        sure, borderline = (
            members.flip(0)[:CLASS_EXAMPLES],
            members[: min(CLASS_EXAMPLES, max(count - CLASS_EXAMPLES, 0))],
        )
        examples.append(
            {
                "class": graph.label_names[c],
                "sure": [dict(node_text(graph, i), margin=float(margin[i])) for i in sure.tolist()],
                "borderline": [dict(node_text(graph, i), margin=float(margin[i])) for i in borderline.tolist()],
            }
        )
    return examples


def labelled_numbers(result: GraphResult, graph: TextGraph, margin: torch.Tensor) -> dict:
    """The numbers of the labelled half, over the evaluation mask (the nodes that the CLI's metrics score):
    confusion counts, per-class precision, recall and F1 (F1 = 2 TP / (true + predicted), as `macro_f1`), true and
    predicted sizes, the most confused pairs with examples, and accuracy at each R."""
    names, num_classes = graph.label_names, len(graph.label_names)
    mask = graph.eval_mask
    truth, predicted = graph.labels[mask], result.predictions[mask]
    confusion = torch.bincount(truth * num_classes + predicted, minlength=num_classes**2).view(num_classes, -1)
    hits, true_sizes, predicted_sizes = confusion.diagonal(), confusion.sum(1), confusion.sum(0)
    per_class = []
    for c in range(num_classes):
        tp, t, p = int(hits[c]), int(true_sizes[c]), int(predicted_sizes[c])
        per_class.append(
            {
                "class": names[c],
                "true": t,
                "predicted": p,
                "precision": tp / p if p else None,
                "recall": tp / t if t else None,
                "f1": 2 * tp / (t + p) if t + p else None,
            }
        )
    off_diagonal = confusion.clone().fill_diagonal_(0).flatten()
    pairs, nodes = [], mask.nonzero().flatten()
    for flat in off_diagonal.argsort(descending=True, stable=True)[:CONFUSED_PAIRS].tolist():
        if off_diagonal[flat] == 0:
            break
        a, b = divmod(flat, num_classes)
        members = nodes[(truth == a) & (predicted == b)]
        members = members[margin[members].argsort(descending=True, stable=True)[:PAIR_EXAMPLES]]
        pairs.append(
            {
                "true": names[a],
                "predicted": names[b],
                "count": int(off_diagonal[flat]),
                "share_of_true": int(off_diagonal[flat]) / int(true_sizes[a]),
                "examples": [dict(node_text(graph, i), margin=float(margin[i])) for i in members.tolist()],
            }
        )
    rows = confusion.sum(1, keepdim=True).clamp(min=1)
    return {
        "num_scored": int(mask.sum()),
        "confusion": confusion.tolist(),
        "confusion_row_normalised": (confusion.double() / rows).tolist(),
        "per_class": per_class,
        "confused_pairs": pairs,
        "accuracy_by_rounds": dict(zip(REPORT_ROUNDS, accuracy_by_rounds(result, graph, mask))),
    }


def report_numbers(result: GraphResult, graph) -> dict:
    """Every number of the report, as JSON-ready values (`report.json`); the page and its figures show these."""
    graph = as_text_graph(graph)
    if result.scored is None:
        raise ValueError("the report needs the graph as it was scored: a GraphResult from evaluate_graph holds it")
    if result.num_nodes != graph.num_nodes or list(result.label_names or []) != list(graph.label_names):
        raise ValueError(f"this GraphResult is not of graph {graph.name!r} (its nodes or classes differ)")
    settings, predicted = result.settings, result.predictions
    margin = relative_margin(result.logits)
    similarity = label_similarity(result)
    num_classes = similarity.size(0)
    upper = torch.triu_indices(num_classes, num_classes, 1)
    closest = similarity[upper[0], upper[1]].argsort(descending=True, stable=True)[:CLOSE_LABELS]
    auto = settings.get("auto_rounds")
    numbers = {
        "graph": graph.name,
        "source": graph.source,
        "model": settings["model"],
        "description": graph.description,
        "classes": list(graph.label_names),
        "label_texts": list(graph.class_texts),
        "num_nodes": graph.num_nodes,
        "num_rounds": settings["num_rounds"],
        "rounds": settings["rounds"],
        "accuracy": result.accuracy,
        "macro_f1": result.macro_f1,
        "settings": settings,
        "predicted_sizes": torch.bincount(predicted, minlength=num_classes).tolist(),
        "margin_histogram": margin_histogram(margin),
        "label_similarity": similarity.tolist(),
        "closest_labels": [
            {
                "classes": [graph.label_names[int(upper[0, i])], graph.label_names[int(upper[1, i])]],
                "cosine": float(similarity[upper[0, i], upper[1, i]]),
            }
            for i in closest.tolist()
        ],
        "class_examples": class_examples(graph, predicted, margin),
        "auto": None
        if auto is None
        else dict(
            auto, candidates=list(AUTO_ROUNDS), tolerance=AUTO_ROUNDS_TOLERANCE, collapse_ceiling=AUTO_ROUNDS_COLLAPSE
        ),
        "labelled": labelled_numbers(result, graph, margin) if result.num_scored else None,
    }
    return numbers


def relative_margin(logits: torch.Tensor) -> torch.Tensor:
    """`[N]`: each node's margin, (top cosine - runner-up's) / |top cosine|. From the logits, the cosines times a
    positive per-node factor that the ratio cancels, so no vector is propagated again; the predictions CSV's cosines
    give the same figure."""
    scores = logits.double()
    if scores.size(1) < 2:
        return torch.ones(scores.size(0))
    top, runner_up = scores.topk(2, dim=1).values.unbind(1)
    return ((top - runner_up) / top.abs().clamp(min=1e-12)).float()


def margin_histogram(margin: torch.Tensor, bins: int = 40) -> dict:
    """Counts of the margins (`relative_margin`) in `bins` equal bins from 0 to the largest."""
    high = max(float(margin.max()), 1e-6) if margin.numel() else 1.0
    counts = torch.histc(margin.clamp(min=0).double(), bins=bins, min=0, max=high)
    return {"edges": torch.linspace(0, high, bins + 1).tolist(), "counts": [int(c) for c in counts.tolist()]}


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def matrix_figure(matrix, names, title, label, numbers, highlight=(), limit: int = CELL_NUMBERS):
    """A heatmap of a `[C, C]` matrix with class names on both axes, and its values in the cells when there are
    few classes (`numbers`: the texts to print)."""
    Figure, _, Rectangle = matplotlib_classes()
    size = len(names)
    side = min(max(4.5, 0.38 * size + 2.5), 16)
    figure = Figure(figsize=(side + 1, side))
    axes = figure.add_subplot()
    cosine = label == "cosine"
    image = axes.imshow(matrix, cmap="RdBu_r" if cosine else "Blues", vmin=-1 if cosine else 0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label=label)
    axes.set_xticks(range(size), [short(n) for n in names], rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(size), [short(n) for n in names], fontsize=8)
    axes.set_title(title)
    if size <= limit:
        for i in range(size):
            for j in range(size):
                value = matrix[i][j]
                axes.text(j, i, numbers[i][j], ha="center", va="center", fontsize=6,
                          color="white" if value > 0.6 else "black")  # fmt: skip
    for i, j in highlight:
        for a, b in ((i, j), (j, i)):
            axes.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
    return figure


def short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def figures(numbers: dict) -> dict:
    """The report's figures, `{name: matplotlib Figure}`: those of `FIGURES` that the numbers allow."""
    Figure = matplotlib_classes()[0]
    names, labelled, out = numbers["classes"], numbers["labelled"], {}
    size = len(names)
    if labelled:
        counts, rows = labelled["confusion"], labelled["confusion_row_normalised"]
        out["confusion"] = matrix_figure(
            rows, names, f"Confusion, row-normalised ({labelled['num_scored']} scored nodes)",
            "share of the true class", [[str(v) if v else "" for v in row] for row in counts],
        )  # fmt: skip
        out["confusion"].axes[0].set(xlabel="predicted class", ylabel="true class")
        figure = Figure(figsize=(max(6, 0.35 * size + 2), 4))
        axes = figure.add_subplot()
        for k, (metric, colour) in enumerate((("precision", "#4c72b0"), ("recall", "#dd8452"), ("f1", "#55a868"))):
            values = [row[metric] if row[metric] is not None else 0 for row in labelled["per_class"]]
            axes.bar([i + (k - 1) * 0.27 for i in range(size)], values, width=0.27, label=metric, color=colour)
        axes.set_xticks(range(size), [short(n) for n in names], rotation=60, ha="right", fontsize=8)
        axes.set(ylim=(0, 1), title="Per-class precision, recall and F1 (F1 = 2 TP / (true + predicted))")
        axes.legend(fontsize=8)
        out["per_class"] = figure
    figure = Figure(figsize=(max(6, 0.35 * size + 2), 4))
    axes = figure.add_subplot()
    if labelled:
        true = [row["true"] for row in labelled["per_class"]]
        predicted = [row["predicted"] for row in labelled["per_class"]]
        axes.bar([i - 0.2 for i in range(size)], true, width=0.4, label="true (scored nodes)", color="#999999")
        axes.bar(
            [i + 0.2 for i in range(size)], predicted, width=0.4, label="predicted (scored nodes)", color="#4c72b0"
        )
        axes.legend(fontsize=8)
        axes.set_title("Class sizes: predicted against true")
    else:
        axes.bar(range(size), numbers["predicted_sizes"], color="#4c72b0")
        axes.set_title(f"Predicted class sizes ({numbers['num_nodes']} nodes)")
    axes.set_xticks(range(size), [short(n) for n in names], rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("nodes")
    out["sizes"] = figure
    histogram = numbers["margin_histogram"]
    figure = Figure(figsize=(6, 3.5))
    axes = figure.add_subplot()
    edges = histogram["edges"]
    axes.stairs(histogram["counts"], edges, fill=True, color="#4c72b0")
    axes.set(
        xlabel="margin: (top cosine - runner-up's) / top cosine",
        ylabel="nodes",
        title="Confidence (margin) of every node",
    )
    out["margins"] = figure
    similarity = numbers["label_similarity"]
    index = {name: i for i, name in enumerate(names)}
    highlight = [(index[a], index[b]) for a, b in (pair["classes"] for pair in numbers["closest_labels"])]
    out["label_similarity"] = matrix_figure(
        similarity, names, "Label texts: cosine after standardisation (closest pairs in red)", "cosine",
        [[f"{v:.2f}" for v in row] for row in similarity], highlight, SIMILARITY_NUMBERS,
    )  # fmt: skip
    auto = numbers["auto"]
    if labelled or auto:
        out["rounds"] = rounds_figure(Figure, numbers)
    return out


def rounds_figure(Figure, numbers: dict):
    """Accuracy against R with the R used marked (labelled graphs), and `auto`'s per-round "changed" curve with
    its tolerance and the collapse it read against its ceiling."""
    labelled, auto, chosen = numbers["labelled"], numbers["auto"], numbers["num_rounds"]
    panels = [
        p for p in ("accuracy" if labelled else None, "changed" if auto else None, "collapse" if auto else None) if p
    ]
    figure = Figure(figsize=(4.2 * len(panels), 3.6))
    for k, panel in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), k + 1)
        if panel == "accuracy":
            curve = labelled["accuracy_by_rounds"]
            axes.plot(list(curve), [100 * v for v in curve.values()], marker="o")
            if chosen in curve:
                axes.plot([chosen], [100 * curve[chosen]], marker="*", markersize=16, color="red", linestyle="",
                          label=f"R used: {chosen}" + (" (auto)" if numbers["rounds"] == "auto" else ""))  # fmt: skip
                axes.legend(fontsize=8)
            axes.set(xlabel="R (propagation rounds)", ylabel="accuracy (%)", title="Accuracy against R")
        elif panel == "changed":
            rounds = auto["candidates"][1 : len(auto["changed"]) + 1]
            axes.plot(rounds, [100 * v for v in auto["changed"]], marker="o")
            axes.axhline(100 * auto["tolerance"], color="grey", linestyle="--", label="tolerance")
            axes.axvline(chosen, color="red", linestyle=":", label=f"R chosen: {chosen} ({auto['branch']})")
            axes.legend(fontsize=8)
            axes.set(xlabel="round", ylabel="predictions changed (%)", title="auto: changed by each round")
        else:
            value = auto["collapse"]
            axes.bar(
                ["collapse at R=10" if value is not None else "not computed (settled)"], [value or 0], color="#4c72b0"
            )
            axes.axhline(auto["collapse_ceiling"], color="grey", linestyle="--", label="ceiling")
            axes.set(ylim=(0, 1), ylabel="mean pairwise cosine", title="auto: collapse")
            axes.legend(fontsize=8)
    return figure


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def e(value) -> str:
    """Text from the data (node texts, class names, the description), escaped for HTML."""
    return html.escape(str(value), quote=True)


def percent_cell(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def examples_list(examples: list) -> str:
    if not examples:
        return "<p class=muted>none</p>"
    items = "".join(
        f"<li><span class=muted>{e(x['node'])} · margin {x['margin']:.3f}</span> {e(x['text'])}</li>" for x in examples
    )
    return f"<ol>{items}</ol>"


def page(numbers: dict, written: list) -> str:
    """`index.html`: self-contained (no script, no remote resource; a policy forbids both), every text escaped."""
    names, labelled, settings = numbers["classes"], numbers["labelled"], numbers["settings"]
    image = {
        name: f'<figure><img src="{name}.png" alt="{e(name)}"><figcaption>{caption}</figcaption></figure>'
        for name, caption in (
            ("confusion", "Rows: true class; columns: predicted class; each row sums to 1; cells print the counts."),
            ("per_class", "Over the scored nodes, with the CLI's definitions (table below)."),
            ("sizes", "How many nodes each class receives."),
            ("margins", "Low margins: nodes the model hesitates on."),
            ("label_similarity", "Label texts close together are hard to tell apart: reword one of a red pair."),
            ("rounds", "How R was chosen, and what each R would have scored."),
        )
        if f"{name}.png" in written
    }
    header = [
        ("graph", numbers["graph"]),
        ("source", numbers["source"]),
        ("model", numbers["model"]),
        ("R", f"{numbers['num_rounds']} (setting: {numbers['rounds']})"),
        ("nodes", numbers["num_nodes"]),
        ("template", settings.get("template")),
        ("pooling", settings.get("pooling")),
        ("dtype", settings.get("dtype")),
        ("standardise", f"{settings.get('standardize')} (label statistics: {settings.get('label_statistics')})"),
        ("description", numbers["description"] or "(none)"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">',
        f"<title>ZeroG report: {e(numbers['graph'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;"
        "vertical-align:top}img{max-width:100%}.muted{color:#777}.num{text-align:right}li{margin:.3em 0}</style>",
        "</head><body>",
        f"<h1>What the model understood: {e(numbers['graph'])}</h1>",
        "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in header) + "</table>",
    ]
    if labelled:
        parts.append(
            f"<p>Accuracy {percent_cell(numbers['accuracy'])}%, macro-F1 {percent_cell(numbers['macro_f1'])}% over "
            f"{labelled['num_scored']} scored nodes.</p>"
        )
    else:
        parts.append("<p>No labelled node to score: the figures below need no labels.</p>")
    parts.append(
        "<h2>Label texts</h2><table><tr><th>class</th><th>label text embedded</th><th>predicted nodes</th></tr>"
    )
    parts += [
        f"<tr><td>{e(n)}</td><td>{e(t)}</td><td class=num>{s}</td></tr>"
        for n, t, s in zip(names, numbers["label_texts"], numbers["predicted_sizes"])
    ]
    parts.append("</table>")
    if labelled:
        parts += ["<h2>Confusions</h2>", image.get("confusion", ""), image.get("per_class", "")]
        parts.append(
            "<table><tr><th>class</th><th>true</th><th>predicted</th><th>precision %</th><th>recall %</th>"
            "<th>F1 %</th></tr>"
            + "".join(
                f"<tr><td>{e(r['class'])}</td><td class=num>{r['true']}</td><td class=num>{r['predicted']}</td>"
                f"<td class=num>{percent_cell(r['precision'])}</td><td class=num>{percent_cell(r['recall'])}</td>"
                f"<td class=num>{percent_cell(r['f1'])}</td></tr>"
                for r in labelled["per_class"]
            )
            + "</table><p class=muted>Precision = TP / predicted, recall = TP / true, F1 = 2 TP / (true + predicted), "
            "over the scored nodes; macro-F1 is the mean F1 over the classes that occur among their labels or "
            "predictions, as <code>zerog eval</code> prints it.</p>"
        )
        parts.append("<h3>Most confused pairs</h3>")
        for pair in labelled["confused_pairs"]:
            parts.append(
                f"<h4>{e(pair['true'])} → predicted {e(pair['predicted'])}: {pair['count']} nodes "
                f"({100 * pair['share_of_true']:.1f}% of {e(pair['true'])})</h4>" + examples_list(pair["examples"])
            )
    parts += [
        "<h2>Without labels</h2>",
        image.get("sizes", ""),
        image.get("margins", ""),
        image.get("label_similarity", ""),
    ]
    parts.append(
        "<h3>Closest label texts</h3><table><tr><th>classes</th><th>cosine</th></tr>"
        + "".join(
            f"<tr><td>{e(p['classes'][0])} · {e(p['classes'][1])}</td><td class=num>{p['cosine']:.3f}</td></tr>"
            for p in numbers["closest_labels"]
        )
        + "</table>"
    )
    parts.append("<h3>The nodes behind each class</h3>")
    for item in numbers["class_examples"]:
        parts.append(
            f"<details><summary>{e(item['class'])}</summary><p>Most sure:</p>{examples_list(item['sure'])}"
            f"<p>Borderline (lowest margin):</p>{examples_list(item['borderline'])}</details>"
        )
    if "rounds" in image:
        auto = numbers["auto"]
        chose = f" <code>auto</code> chose R = {numbers['num_rounds']} ({e(auto['branch'])})." if auto else ""
        parts += ["<h2>Propagation rounds</h2>", f"<p>R used: {numbers['num_rounds']}.{chose}</p>", image["rounds"]]
    parts.append('<p class=muted>The numbers behind every figure: <a href="report.json">report.json</a>.</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(directory, result: GraphResult, graph, overwrite: bool = False) -> Path:
    """Writes the report of `result` on `graph` into `directory`: `index.html`, a PNG per figure beside it and
    `report.json` (the numbers); returns the page's path. Each file is written whole or not at all, never through
    a symlink (`write_atomically`); a folder that is not empty is refused without `overwrite`, and with it the
    report's own files that this report does not write again (a confusion matrix of an earlier labelled run) are
    removed, so that the folder never mixes two reports."""
    graph = as_text_graph(graph)
    directory = check_report_dir(directory, overwrite, option="report folder")
    FigureCanvasAgg = matplotlib_classes()[1]
    numbers = report_numbers(result, graph)
    drawn = figures(numbers)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in drawn.items():
        FigureCanvasAgg(figure)
        figure.tight_layout()
        write_atomically(
            directory / f"{name}.png", lambda f: figure.savefig(f.buffer, format="png", dpi=90), overwrite
        )
        written.append(f"{name}.png")
    text = json.dumps(numbers, indent=1, allow_nan=False) + "\n"
    write_atomically(directory / "report.json", lambda f: f.write(text), overwrite)
    write_atomically(directory / "index.html", lambda f: f.write(page(numbers, written)), overwrite)
    for stale in set(REPORT_FILES) - set(written) - {"index.html", "report.json"}:
        if (directory / stale).is_file() and not (directory / stale).is_symlink():
            (directory / stale).unlink()
    return directory / "index.html"


def write_reports(directory, items: list, overwrite: bool = False) -> list:
    """The CLI's reports: one graph's in `directory`; several graphs', one folder each (`directory/<key>/`), with
    an `index.html` that links them. `items` are `(key, result, graph)`."""
    directory = Path(directory)
    if len(items) == 1:
        return [write_report(directory, items[0][1], items[0][2], overwrite)]
    pages = [write_report(directory / key, result, graph, overwrite) for key, result, graph in items]
    links = "".join(f'<li><a href="{e(key)}/index.html">{e(graph.name)}</a></li>' for key, _, graph in items)
    text = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_POLICY}"><title>ZeroG reports</title></head><body><h1>ZeroG reports</h1><ul>{links}</ul>'
        "</body></html>\n"
    )
    write_atomically(directory / "index.html", lambda f: f.write(text), overwrite)
    return pages


def optional_report_dir(args) -> None:
    """The CLI's check of `--report` before any work: the folder (not the predictions folder too), and that
    matplotlib is installed."""
    if args.report is None:
        return
    if args.predictions and os.path.abspath(args.predictions) == os.path.abspath(args.report):
        raise ValueError(f"--report {args.report} is the predictions folder too; give each its own folder")
    check_report_dir(args.report, args.overwrite)
    matplotlib_classes()
