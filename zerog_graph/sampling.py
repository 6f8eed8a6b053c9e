"""k-hop subgraphs of the source graphs, following ZeroG's rule, as a map-style dataset."""

import math
from typing import Optional, Union

import torch
from torch.utils.data import Dataset
from torch_geometric.utils import k_hop_subgraph, subgraph

from .graph import TextGraph

# The training recipe's subgraphs (train_hf.py's defaults, chosen on WordNet verbs: docs/training.md).
NUM_SUBGRAPHS, K_HOPS, MAX_NODES = 500, 2, 15


class SubgraphDataset(Dataset):
    """`num_subgraphs` subgraphs per source graph, each the `k_hops` neighbourhood of a labelled
    centre with at most `max_nodes` nodes (a random subset, centre kept, when larger) and at least
    `min_classes` classes among its labelled nodes (default ⌈C/2⌉ of its graph).

    Item `i` is drawn from a generator seeded with `(seed, i)`: the dataset is deterministic, and
    each subgraph is sampled when it is read, so building the dataset costs nothing. A graph with no
    labelled node, labelled nodes of fewer than 2 classes, or fewer such classes than `min_classes` is
    refused when the dataset is built (`ValueError` naming the graph and its file).

    Args:
        graphs (list[TextGraph]): the source graphs.
        num_subgraphs (int): subgraphs per graph (default: `NUM_SUBGRAPHS`, 500).
        k_hops (int): neighbourhood radius (default: `K_HOPS`, 2).
        max_nodes (int): node budget per subgraph (default: `MAX_NODES`, 15).
        min_classes (int or list[int], optional): classes a subgraph must contain, for every graph or one
            value per graph (default: ⌈C/2⌉ of each graph).
        seed (int): the sampling seed (default: 0).
        max_tries (int): centres tried before giving up on an item (default: 100).
    """

    def __init__(
        self,
        graphs: list,
        num_subgraphs: int = NUM_SUBGRAPHS,
        k_hops: int = K_HOPS,
        max_nodes: int = MAX_NODES,
        min_classes: Optional[Union[int, list]] = None,
        seed: int = 0,
        max_tries: int = 100,
    ):
        self.graphs, self.num_subgraphs, self.k_hops, self.max_nodes = graphs, num_subgraphs, k_hops, max_nodes
        per_graph = min_classes if isinstance(min_classes, (list, tuple)) else [min_classes] * len(graphs)
        if len(per_graph) != len(graphs):
            raise ValueError(
                f"min_classes has {len(per_graph)} values for {len(graphs)} graphs: give one, or one per graph"
            )
        self.min_classes = [needed or math.ceil(g.num_classes / 2) for g, needed in zip(graphs, per_graph)]
        self.seed, self.max_tries = seed, max_tries
        self.centres = [(g.labels >= 0).nonzero().flatten() for g in graphs]
        for graph, centres, needed in zip(graphs, self.centres, self.min_classes):
            where = f"source graph {graph.name!r} ({graph.source})"
            if centres.numel() == 0:
                raise ValueError(f"{where} has no labelled node to train on")
            classes = graph.labels[centres].unique().numel()
            if classes < 2:
                raise ValueError(f"{where} has labelled nodes of {classes} class; training needs at least 2")
            if needed > classes:
                raise ValueError(
                    f"{where}: min_classes={needed} but only {classes} classes have labelled nodes; lower min_classes"
                )

    def __len__(self) -> int:
        return self.num_subgraphs * len(self.graphs)

    def __getitem__(self, index: int) -> dict:
        graph_index = index % len(self.graphs)
        graph, centres, min_classes = (
            self.graphs[graph_index],
            self.centres[graph_index],
            self.min_classes[graph_index],
        )
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        for _ in range(self.max_tries):
            centre = centres[torch.randint(centres.numel(), (1,), generator=generator)]
            nodes, _, _, _ = k_hop_subgraph(centre, self.k_hops, graph.edge_index, num_nodes=graph.num_nodes)
            if nodes.numel() > self.max_nodes:
                others = nodes[nodes != centre]
                keep = others[torch.randperm(others.numel(), generator=generator)[: self.max_nodes - 1]]
                nodes = torch.cat([centre, keep]).sort().values
            labels = graph.labels[nodes]
            if labels[labels >= 0].unique().numel() >= min_classes:
                return {**self.item(graph, nodes), "graph_index": graph_index}
        raise ValueError(
            f"{graph.name}: no {self.k_hops}-hop subgraph with >= {min_classes} classes in {self.max_tries} tries; "
            f"lower min_classes or raise k_hops / max_nodes"
        )

    def check(self):
        """Samples each graph's first subgraph, so that a rule no subgraph meets fails before training."""
        for index in range(min(len(self.graphs), len(self))):
            self[index]

    @staticmethod
    def item(graph: TextGraph, nodes: torch.Tensor) -> dict:
        edge_index, _ = subgraph(nodes, graph.edge_index, relabel_nodes=True, num_nodes=graph.num_nodes)
        return {
            "texts": [graph.texts[i] for i in nodes.tolist()],
            "edge_index": edge_index,
            "labels": graph.labels[nodes],
            "class_texts": graph.class_texts,
            "class_names": graph.label_names,
            "description": graph.description,
            "graph": graph.name,
        }


def snowball_sample(graph: TextGraph, num_nodes: int, seed: int = 0, k_hops: int = 2) -> TextGraph:
    """The subgraph induced by about `num_nodes` nodes grown from random centres: centres are taken in a
    random order (seeded), each adds its `k_hops` neighbourhood, and the last one only as many of its
    nodes (chosen at random) as are still missing. Unlike a uniform sample of nodes, it keeps the local
    structure that propagation needs. Reads no labels; the same `seed` gives the same subgraph."""
    if num_nodes >= graph.num_nodes:
        return graph
    generator = torch.Generator().manual_seed(seed)
    taken = torch.zeros(graph.num_nodes, dtype=torch.bool)
    chosen = []
    for centre in torch.randperm(graph.num_nodes, generator=generator).tolist():
        if taken[centre]:
            continue
        nodes, _, _, _ = k_hop_subgraph(centre, k_hops, graph.edge_index, num_nodes=graph.num_nodes)
        new = nodes[~taken[nodes]]
        new = new[torch.randperm(new.numel(), generator=generator)][: num_nodes - int(taken.sum())]
        taken[new] = True
        chosen.append(new)
        if taken.sum() >= num_nodes:
            break
    return graph.subgraph(torch.cat(chosen).sort().values)
