"""ZeroG's graph maths, parameter-free and torch only: the prompt node, the normalised adjacency, propagation,
standardisation, the node-label scores and the choice of R. Travels to the Hub with the model."""

import warnings
from typing import Callable, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from transformers.utils import logging

try:
    from .checks_zerog import check_edge_index
    from .configuration_zerog import (
        APPNP_ALPHA,
        AUTO_ROUNDS,
        AUTO_ROUNDS_COLLAPSE,
        AUTO_ROUNDS_TOLERANCE,
        LABEL_STATISTICS,
        ZEROG_ROUNDS,
    )
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from checks_zerog import check_edge_index
    from configuration_zerog import (
        APPNP_ALPHA,
        AUTO_ROUNDS,
        AUTO_ROUNDS_COLLAPSE,
        AUTO_ROUNDS_TOLERANCE,
        LABEL_STATISTICS,
        ZEROG_ROUNDS,
    )

# Under transformers' logger, as modeling_zerog.py's, so that `TRANSFORMERS_VERBOSITY` decides what is shown.
logger = logging.get_logger("transformers.modeling_zerog")


def add_prompt_nodes(edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    r"""Joins prompt node `N + g` to every node of graph `g`, in both directions.

    Args:
        edge_index (torch.Tensor): Edges among the `N` nodes, shape `[2, E]`.
        batch (torch.Tensor): Graph index of each node, shape `[N]`; graph `g` gets prompt node `N + g`.

    :rtype: :class:`torch.Tensor` of shape `[2, E + 2N]`.

    Examples:
        >>> add_prompt_nodes(torch.tensor([[0], [1]]), torch.tensor([0, 0, 0])).tolist()
        [[0, 0, 1, 2, 3, 3, 3], [1, 3, 3, 3, 0, 1, 2]]
    """
    num_nodes = batch.numel()
    nodes = torch.arange(num_nodes, device=edge_index.device)
    prompts = num_nodes + batch.to(edge_index.device)
    return torch.cat([edge_index, torch.stack([nodes, prompts]), torch.stack([prompts, nodes])], dim=1)


def edge_keys(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """`target * num_nodes + source` of each edge that is not a self-loop: its place in the adjacency, one int64 per
    edge (half an `edge_index`). As in PyG (`flow="source_to_target"`), an edge `[i, j]` makes its target `j`
    aggregate from its source `i`: row `j`, column `i`."""
    source, target = edge_index
    keep = source != target
    keys = target[keep] if not keep.all() else target.clone()
    return keys.mul_(num_nodes).add_(source[keep] if keep.numel() and not keep.all() else source)


def normalized_adjacency(
    edge_index: torch.Tensor, num_nodes: int, keys: Optional[torch.Tensor] = None
) -> torch.Tensor:
    r"""Sparse CSR :math:`\hat{D}^{-1/2}(A + I)\hat{D}^{-1/2}`; duplicate edges and self-loops count once. `keys`
    (`edge_keys`) may stand for `edge_index`: a graph of millions of edges is then never copied whole as pairs."""
    keys = edge_keys(edge_index, num_nodes) if keys is None else keys
    loops = torch.arange(num_nodes, device=keys.device) * (num_nodes + 1)
    keys = torch.unique(torch.cat([keys, loops]))  # sorted by row, then column; each edge once
    row = keys // num_nodes
    degree = torch.bincount(row, minlength=num_nodes)  # >= 1 everywhere (the self-loop)
    inv_sqrt = degree.float().pow(-0.5)
    col = keys - row * num_nodes
    values = inv_sqrt[row] * inv_sqrt[col]
    del row, keys
    crow = torch.cat([degree.new_zeros(1), degree.cumsum(0)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, (num_nodes, num_nodes), check_invariants=False)


def prompt_adjacency(edge_index: torch.Tensor, batch: torch.Tensor, num_graphs: int = 1) -> torch.Tensor:
    """`normalized_adjacency` of the nodes and one prompt node per graph of `batch`, joined as `add_prompt_nodes`
    joins them (built from `edge_keys`, without the joined `edge_index`)."""
    num_nodes = batch.numel()
    total = num_nodes + num_graphs
    nodes, prompts = torch.arange(num_nodes, device=batch.device), num_nodes + batch
    keys = torch.cat([edge_keys(edge_index.to(batch.device), total), nodes * total + prompts, prompts * total + nodes])
    return normalized_adjacency(None, total, keys)


def propagate(x: torch.Tensor, adj: torch.Tensor, num_rounds: int) -> torch.Tensor:
    """Applies `adj` to `x` `num_rounds` times, with no parameters, in the adjacency's float32: autocast is
    off here, since sparse products have no bf16 kernel on the CPU (`--bf16` training would fail)."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(adj.dtype)
        for _ in range(num_rounds):
            x = adj @ x
    return x


def propagate_each(x: torch.Tensor, adj: torch.Tensor, rounds: tuple):
    """Yields `x` after each number of rounds in `rounds` (ascending), propagating once up to the largest."""
    if list(rounds) != sorted(rounds):
        raise ValueError(f"rounds must be in ascending order, got {rounds}")
    done = 0
    for num_rounds in rounds:
        x, done = propagate(x, adj, num_rounds - done), num_rounds
        yield x


def appnp_each(x: torch.Tensor, adj: torch.Tensor, rounds: tuple, alpha: float = APPNP_ALPHA):
    r"""Personalised PageRank (APPNP, Klicpera et al., ICLR 2019): :math:`x_{k+1} = (1 - \alpha) \hat{A} x_k +
    \alpha x_0`, yielding `x` after each number of steps K in `rounds` (ascending); in float32, autocast off, as
    `propagate`. Linear in `x`, like ZeroG's rule, so the evaluator may propagate the `[N, C]` projection.

    Examples:
        >>> adj = normalized_adjacency(torch.tensor([[0, 1], [1, 0]]), 2)
        >>> steps = appnp_each(torch.tensor([[1.0], [0.0]]), adj, (0, 1), alpha=0.5)
        >>> [[round(v, 4) for v in x.flatten().tolist()] for x in steps]
        [[1.0, 0.0], [0.75, 0.25]]
    """
    if list(rounds) != sorted(rounds):
        raise ValueError(f"rounds must be in ascending order, got {rounds}")
    with torch.autocast(x.device.type, enabled=False):
        start = x = x.to(adj.dtype)
        done = 0
        for num_rounds in rounds:
            for _ in range(num_rounds - done):
                x = (1 - alpha) * (adj @ x) + alpha * start
            done = num_rounds
            yield x


# The propagation rules by name (`ZeroGConfig.propagation`, `--propagation`): each takes `(x, adj, rounds)` and yields
# `x` after each R of `rounds`. A new rule is a function here, its row below and its name in
# `configuration_zerog.PROPAGATIONS` (docs/design.md, "Adding a propagation rule").
PROPAGATION_RULES = {"zerog": propagate_each, "appnp": appnp_each}


def propagation_rule(name: str) -> Callable:
    """The rule of `PROPAGATION_RULES` named `name`, or a ValueError listing them."""
    if name not in PROPAGATION_RULES:
        raise ValueError(f"propagation={name!r} is not one of {tuple(PROPAGATION_RULES)}")
    return PROPAGATION_RULES[name]


class EmbeddingRows:
    """The rows of an `[N, H]` embedding matrix, read as chunks of rows or as blocks of columns.

    This one holds a tensor; `zerog_graph.cache.ShardRows` reads memory-mapped cache shards through the same two
    methods, so that one pipeline (`zerog_logits`, `collapse`) scores a graph held in memory and one that is not.

    Args:
        embeds (torch.Tensor): `[N, H]`.
        chunk_size (int): rows per chunk of `chunks()` (default: `65536`).
    """

    def __init__(self, embeds: torch.Tensor, chunk_size: int = 65536):
        self.embeds, self.chunk_size = embeds, chunk_size

    @property
    def shape(self) -> torch.Size:
        return self.embeds.shape

    def chunks(self):
        """`(rows, embeds[rows])` pairs covering every row once."""
        for start in range(0, self.embeds.size(0), self.chunk_size):
            part = self.embeds[start : start + self.chunk_size]
            yield torch.arange(start, start + part.size(0), device=part.device), part

    def columns(self, start: int, stop: int) -> torch.Tensor:
        """`[N, stop - start]`: columns `start:stop` of every row."""
        return self.embeds[:, start:stop]

    def tensor(self) -> torch.Tensor:
        """All rows, `[N, H]`."""
        return self.embeds


def as_rows(embeds) -> EmbeddingRows:
    """A tensor wrapped as `EmbeddingRows`; anything with `chunks` and `columns` as it is."""
    return embeds if hasattr(embeds, "chunks") else EmbeddingRows(embeds)


def stacked_chunks(nodes, prompts: torch.Tensor):
    """Row chunks of the nodes, then of the prompt nodes (rows `N..N+G-1`), as `add_prompt_nodes` numbers them."""
    yield from nodes.chunks()
    num_nodes = nodes.shape[0]
    yield torch.arange(num_nodes, num_nodes + prompts.size(0), device=prompts.device), prompts


def graph_statistics(x, batch: Optional[torch.Tensor] = None, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and inverse standard deviation of each dimension within each graph of `batch`, `[G, H]` each.

    `x` is a tensor, or a callable returning `(rows, embeds)` chunks (`stacked_chunks`). Two passes over the
    chunks, summed in float64: the result does not depend on how the rows are chunked, and memory follows the
    chunk's size, not the graph's. The variance is unbiased; `eps` inside the square root keeps gradients finite
    when it is 0."""
    chunks = (lambda: EmbeddingRows(x, 4096).chunks()) if isinstance(x, torch.Tensor) else x
    num_graphs = int(batch.max()) + 1 if batch is not None and batch.numel() else 1
    mean = None
    for _ in range(2):
        totals, counts = 0, 0
        for rows, part in chunks():
            part_batch = batch[rows] if batch is not None else torch.zeros_like(rows)
            members = F.one_hot(part_batch, num_graphs).T.double()  # [G, rows]
            part = part.double() if mean is None else (part.double() - mean[part_batch]).square()
            totals, counts = totals + members @ part, counts + members.sum(1, keepdim=True)
        if mean is None:
            mean = totals / counts.clamp(min=1)
    scale = (totals / (counts - 1).clamp(min=1) + eps).rsqrt()
    return mean.float(), scale.float()


def standardize(x: torch.Tensor, batch: Optional[torch.Tensor] = None, eps: float = 1e-6) -> torch.Tensor:
    """Zero mean and unit variance per dimension, within each graph of `batch` (default: one graph)."""
    mean, scale = graph_statistics(x, batch, eps)
    if mean.size(0) > 1:
        mean, scale = mean[batch], scale[batch]
    return (x - mean) * scale


def standardize_labels(
    label_embeds: torch.Tensor, label_batch: Optional[torch.Tensor], node_statistics: tuple, label_statistics: str
) -> torch.Tensor:
    """Label vectors standardised with their own statistics per graph ("labels", ZeroG's rule: two classes become
    exact opposites) or with their graph's `node_statistics` (`[G, H]` mean and inverse std; "nodes")."""
    if label_statistics == "labels":
        return standardize(label_embeds, label_batch)
    if label_statistics != "nodes":
        raise ValueError(f"label_statistics={label_statistics!r} is not one of {LABEL_STATISTICS}")
    label_batch = label_batch if label_batch is not None else torch.zeros_like(label_embeds[:, 0], dtype=torch.long)
    mean, scale = node_statistics
    return (label_embeds - mean[label_batch]) * scale[label_batch]


# Floats in one block of propagated columns (`PropagationGraph.blocks`): 64 MB of float32, so that propagating the
# full vectors of a graph of millions of nodes takes a few columns at a time.
PROPAGATION_BLOCK = 2**24


class RoundsDiagnostics(NamedTuple):
    """What `choose_rounds` read: `changed[i]`, the fraction of predictions that round `candidates[i + 1]` changed;
    `collapse` at the last candidate (None when a round settled, so it was not computed); and `branch`, the rule
    that chose R: "settled", "not collapsing" or "collapsing"."""

    changed: list
    collapse: Optional[float]
    branch: str


class PropagationGraph:
    r"""One graph (or a batch of subgraphs) made ready to propagate, once: its adjacency with the prompt nodes, the
    statistics that standardise its nodes and prompts, its unit label vectors and its propagation rule. Every score,
    every R and the collapse asked of it reuse them: ZeroG's pipeline (standardise -> prompt node -> propagate ->
    score), the one place it is written.

    Args:
        node_embeds (torch.Tensor or EmbeddingRows): `[N, H]`, the nodes of one or more graphs; `EmbeddingRows`
            (or `zerog_graph.cache.ShardRows`) are read a chunk at a time, so that memory does not follow `N * H`.
        prompt_embeds (torch.Tensor): `[G, H]`, the description of each graph.
        label_embeds (torch.Tensor, optional): `[L, H]`, the label texts of all graphs (None: `collapse` only).
        edge_index (torch.Tensor): `[2, E]`, edges among the `N` nodes.
        standardize_embeds (bool): standardise nodes and labels per graph first (ZeroG's `if_norm`).
        batch (torch.Tensor, optional): `[N]` graph of each node (default: all in graph 0).
        label_batch (torch.Tensor, optional): `[L]` graph of each label (default: all in graph 0).
        statistics (tuple, optional): `([G, H] mean, [G, H] inverse std)` to standardise each graph's nodes
            and prompt with, instead of their own (training: the whole source graph's, not the subgraph's).
        label_statistics (str): what standardises the labels: "labels", their own statistics (ZeroG), or
            "nodes", their graph's node statistics (`standardize_labels`).
        propagation (str): the rule of `PROPAGATION_RULES` (default: ZeroG's rounds of the normalised A+I).
    """

    def __init__(
        self,
        node_embeds,
        prompt_embeds: torch.Tensor,
        label_embeds: Optional[torch.Tensor],
        edge_index: torch.Tensor,
        standardize_embeds: bool = True,
        batch: Optional[torch.Tensor] = None,
        label_batch: Optional[torch.Tensor] = None,
        statistics: Optional[tuple] = None,
        label_statistics: str = "labels",
        propagation: str = "zerog",
    ):
        self.nodes, self.rule = as_rows(node_embeds), propagation_rule(propagation)
        (self.num_nodes, width), num_graphs = self.nodes.shape, prompt_embeds.size(0)
        check_edge_index(edge_index, self.num_nodes)
        device = prompt_embeds.device
        self.batch = batch if batch is not None else torch.zeros(self.num_nodes, dtype=torch.long, device=device)
        self.prompts = prompt_embeds.float()
        self.x_batch = torch.cat([self.batch, torch.arange(num_graphs, device=device)])
        self.adj = prompt_adjacency(edge_index, self.batch, num_graphs)
        self.mean, self.scale = (
            torch.zeros(num_graphs, width, device=device),
            torch.ones(num_graphs, width, device=device),
        )
        if standardize_embeds:
            mean, scale = (
                statistics
                if statistics is not None
                else graph_statistics(lambda: stacked_chunks(self.nodes, self.prompts), self.x_batch)
            )
            self.mean, self.scale = mean.to(self.prompts), scale.to(self.prompts)
        self.labels = self.label_batch = None
        self.predictions_by_round = {}  # each R's argmax, where `choose_rounds` computed it
        if label_embeds is not None:
            self.label_batch = (
                label_batch
                if label_batch is not None
                else torch.zeros(label_embeds.size(0), dtype=torch.long, device=device)
            )
            labels = label_embeds.float()
            if standardize_embeds:
                labels = standardize_labels(labels, self.label_batch, (self.mean, self.scale), label_statistics)
            self.labels = F.normalize(labels, dim=-1)

    def blocks(self, rounds: tuple, block_size: Optional[int] = None):
        """`(start, stop, [x[:, start:stop] after each R of rounds])`, block after block of columns: the nodes' and
        prompts' vectors standardised, then propagated (`PROPAGATION_BLOCK` floats a block)."""
        num_rows, width = self.num_nodes + self.prompts.size(0), self.nodes.shape[1]
        block_size = block_size or max(1, min(width, PROPAGATION_BLOCK // max(num_rows, 1)))
        mean, scale, x_batch = self.mean, self.scale, self.x_batch
        for start in range(0, width, block_size):
            stop = min(start + block_size, width)
            x = torch.cat(
                [self.nodes.columns(start, stop).to(self.prompts.device), self.prompts[:, start:stop]]
            ).float()
            x = (x - mean[x_batch, start:stop]) * scale[x_batch, start:stop]
            yield start, stop, list(self.rule(x, self.adj, rounds))

    def scores(self, num_rounds: Union[int, tuple], cosine: bool = True, reduce: Optional[Callable] = None):
        """`[N, L]` cosine of every propagated node with its graph's unit label vectors, `-inf` across graphs; a
        tuple of R (ascending) gives a list, one per R, from one propagation.

        `cosine=False` gives each propagated node's dot product with the unit label vectors instead: the cosine times
        a positive per-node factor, so the same argmax, from propagating the `[N, L]` projection rather than the
        `[N, H]` vectors (the rules are linear), which costs `L / H` as much. `reduce` is applied to each R's scores as
        they come, its result kept instead (`choose_rounds` keeps each R's argmax, not one `[N, L]` per R)."""
        reduce = reduce or (lambda scores: scores)
        rounds = (num_rounds,) if isinstance(num_rounds, int) else tuple(num_rounds)
        labels, label_batch, num_nodes = self.labels, self.label_batch, self.num_nodes
        if cosine:
            dots, squares = [0] * len(rounds), [0] * len(rounds)
            for start, stop, propagated in self.blocks(rounds):
                for i, x in enumerate(propagated):
                    dots[i] = dots[i] + x[:num_nodes] @ labels[:, start:stop].T
                    squares[i] = squares[i] + x[:num_nodes].square().sum(-1)
            # the clamp only absorbs rounding: numerator and norm come from the same propagated vectors
            logits = ((d / s.clamp(min=1e-24).sqrt().unsqueeze(1)).clamp(-1, 1) for d, s in zip(dots, squares))
        else:
            # Standardising is affine, so it moves onto the labels: ((x - m) * s) @ l = x @ (s * l) - (m * s) @ l.
            weights = (labels * self.scale[label_batch]).double()
            offset = (self.mean[label_batch].double() * weights).sum(-1)
            projected = torch.empty(num_nodes + self.prompts.size(0), labels.size(0), device=self.prompts.device)
            for rows, part in stacked_chunks(self.nodes, self.prompts):
                projected[rows] = (part.to(projected.device).double() @ weights.T - offset).float()
            logits = (x[:num_nodes] for x in self.rule(projected, self.adj, rounds))
        other_graph = self.batch.unsqueeze(1) != label_batch.unsqueeze(0)
        logits = [reduce(scores.masked_fill(other_graph, float("-inf"))) for scores in logits]
        return logits[0] if isinstance(num_rounds, int) else logits

    def collapse(self, num_rounds: int) -> float:
        """Mean pairwise cosine similarity of the (one) graph's node vectors after `num_rounds` rounds, the prompt
        node left out of the mean: 1 when every node points the same way. Computed from the sum of the unit vectors,
        (|sum|^2 - sum of |u|^2) / (N(N - 1)), with no N x N matrix; 1 for a graph of one node. The vectors are
        propagated in blocks of columns (twice when there are several blocks: once for the norms, once for the sum)."""
        num_nodes = self.num_nodes
        if num_nodes < 2:
            return 1.0
        squares = sum(x[:num_nodes].double().square().sum(-1) for _, _, (x,) in self.blocks((num_rounds,)))
        norms = squares.sqrt()
        inverse = torch.where(norms > 0, 1 / norms.clamp(min=1e-300), torch.zeros_like(norms))
        total = sum(
            (x[:num_nodes].double() * inverse.unsqueeze(1)).sum(0).square().sum()
            for _, _, (x,) in self.blocks((num_rounds,))
        )
        return ((total - (norms > 0).sum()) / (num_nodes * (num_nodes - 1))).item()

    def choose_rounds(
        self,
        candidates: tuple = AUTO_ROUNDS,
        tolerance: float = AUTO_ROUNDS_TOLERANCE,
        collapse_ceiling: float = AUTO_ROUNDS_COLLAPSE,
    ) -> tuple[int, RoundsDiagnostics]:
        r"""`num_rounds="auto"`: the propagation rounds R of the (one) graph, from its unlabelled nodes, its edges and
        its label texts (no labels are taken).

        Each round first corrects a node's class from its neighbours, and, once most nodes agree with their
        neighbourhood, blurs classes together. R is the first candidate whose own round changed the predicted
        class of fewer than `tolerance` of the nodes: propagation stops once it has settled. When no round
        settles, R is the last candidate if the nodes' `collapse` there is below `collapse_ceiling` (still
        settling, not yet alike), else ZeroG's R=2 (`ZEROG_ROUNDS`: the graph over-smooths). docs/rounds.md says
        how both thresholds were chosen.

        :rtype: `(R, RoundsDiagnostics)`.
        """
        predictions = self.scores(tuple(candidates), cosine=False, reduce=lambda scores: scores.argmax(-1))
        self.predictions_by_round = dict(zip(candidates, predictions))  # kept: a report's accuracy against R
        changed = [(after != before).float().mean().item() for before, after in zip(predictions, predictions[1:])]
        settled = next((rounds for rounds, change in zip(candidates[1:], changed) if change < tolerance), None)
        if settled is not None:
            return settled, RoundsDiagnostics(changed, None, "settled")
        last = candidates[-1]
        collapsed = self.collapse(last)
        if collapsed < collapse_ceiling:
            return last, RoundsDiagnostics(changed, collapsed, "not collapsing")
        return ZEROG_ROUNDS, RoundsDiagnostics(changed, collapsed, "collapsing")


class GraphScores(NamedTuple):
    """What `score_graph` gives: the R used, the `[N, C]` dot products with the unit label vectors (`logits`, the
    cosines' argmax) and the cosines themselves, each when asked for, what `auto` read (None for a given R), and the
    `PropagationGraph` they came from (for more scores of the same graph at no new set-up)."""

    num_rounds: int
    logits: Optional[torch.Tensor]
    cosines: Optional[torch.Tensor]
    diagnostics: Optional[RoundsDiagnostics]
    graph: Optional[PropagationGraph] = None


def score_graph(
    node_embeds,
    prompt_embeds: torch.Tensor,
    label_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    num_rounds: Union[int, str],
    standardize_embeds: bool = True,
    label_statistics: str = "labels",
    propagation: str = "zerog",
    logits: bool = True,
    cosines: bool = False,
) -> GraphScores:
    """Zero-shot scores of one graph from its embeddings: R chosen when `num_rounds` is "auto", then the scores asked
    for, from one `PropagationGraph` (adjacency and statistics built once). `ZeroGModel.classify` and
    `zerog_graph.evaluate_graph` both classify through here."""
    graph = PropagationGraph(
        node_embeds,
        prompt_embeds,
        label_embeds,
        edge_index,
        standardize_embeds,
        label_statistics=label_statistics,
        propagation=propagation,
    )
    diagnostics = None
    if num_rounds == "auto":  # from the embeddings and the edges: no labels are passed
        num_rounds, diagnostics = graph.choose_rounds()
    return GraphScores(
        num_rounds,
        graph.scores(num_rounds, cosine=False) if logits else None,
        graph.scores(num_rounds, cosine=True) if cosines else None,
        diagnostics,
        graph,
    )


def zerog_logits(
    node_embeds,
    prompt_embeds: torch.Tensor,
    label_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    num_rounds: Union[int, tuple],
    standardize_embeds: bool = True,
    batch: Optional[torch.Tensor] = None,
    label_batch: Optional[torch.Tensor] = None,
    cosine: bool = True,
    statistics: Optional[tuple] = None,
    label_statistics: str = "labels",
    reduce: Optional[Callable] = None,
    propagation: str = "zerog",
) -> torch.Tensor:
    r"""`PropagationGraph(...).scores(num_rounds, cosine, reduce)` in one call (the arguments are theirs): the
    cosine of every propagated node embedding with its graph's label embeddings, as training's forward pass takes it.

    :rtype: :class:`torch.Tensor` `[N, L]`, `-inf` where node and label are in different graphs (a list for a tuple
        of R).
    """
    graph = PropagationGraph(
        node_embeds,
        prompt_embeds,
        label_embeds,
        edge_index,
        standardize_embeds,
        batch,
        label_batch,
        statistics,
        label_statistics,
        propagation,
    )
    return graph.scores(num_rounds, cosine, reduce)


def collapse(
    node_embeds,
    prompt_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    num_rounds: int,
    standardize_embeds: bool = True,
    propagation: str = "zerog",
) -> float:
    """`PropagationGraph.collapse` of one graph's nodes (standardised with the graph's statistics and propagated with
    the prompt node, as the scores are)."""
    graph = PropagationGraph(node_embeds, prompt_embeds, None, edge_index, standardize_embeds, propagation=propagation)
    return graph.collapse(num_rounds)


def choose_rounds(
    node_embeds,
    prompt_embeds: torch.Tensor,
    label_embeds: torch.Tensor,
    edge_index: torch.Tensor,
    standardize_embeds: bool = True,
    candidates: tuple = AUTO_ROUNDS,
    tolerance: float = AUTO_ROUNDS_TOLERANCE,
    label_statistics: str = "labels",
    collapse_ceiling: float = AUTO_ROUNDS_COLLAPSE,
    propagation: str = "zerog",
) -> tuple[int, RoundsDiagnostics]:
    """`PropagationGraph.choose_rounds` of one graph (the arguments are `PropagationGraph`'s and the rule's)."""
    graph = PropagationGraph(
        node_embeds,
        prompt_embeds,
        label_embeds,
        edge_index,
        standardize_embeds,
        label_statistics=label_statistics,
        propagation=propagation,
    )
    return graph.choose_rounds(candidates, tolerance, collapse_ceiling)
