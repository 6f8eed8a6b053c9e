"""Subgraph sampling speed on a graph the size of ogbn-arxiv (169,343 nodes, 1,166,243 edges).

    python bench/sampling.py

Times building `SubgraphDataset` and drawing subgraphs (2 hops, at most 30 nodes, at least 20 of
40 classes), on a random graph with arxiv's size and a random 40-class labelling.
"""

import time

import torch
from torch_geometric.utils import to_undirected

from zerog_graph.graph import TextGraph
from zerog_graph.sampling import SubgraphDataset

NUM_NODES, NUM_EDGES, NUM_CLASSES, DRAWS = 169_343, 1_166_243, 40, 200


def main():
    generator = torch.Generator().manual_seed(0)
    edge_index = to_undirected(torch.randint(NUM_NODES, (2, NUM_EDGES), generator=generator), num_nodes=NUM_NODES)
    labels = torch.randint(NUM_CLASSES, (NUM_NODES,), generator=generator)
    start = time.perf_counter()
    graph = TextGraph(
        texts=[""] * NUM_NODES,
        edge_index=edge_index,
        labels=labels,
        label_names=[f"c{i}" for i in range(NUM_CLASSES)],
        name="arxiv-sized",
    )
    built = time.perf_counter()
    dataset = SubgraphDataset([graph], num_subgraphs=DRAWS, k_hops=2, max_nodes=30)
    ready = time.perf_counter()
    sizes = [len(dataset[i]["texts"]) for i in range(DRAWS)]
    drawn = time.perf_counter()
    print(f"graph: {NUM_NODES:,} nodes, {edge_index.size(1):,} directed edges")
    print(f"TextGraph validation + to_undirected: {built - start:.2f} s")
    print(f"SubgraphDataset construction:        {ready - built:.3f} s")
    print(
        f"draw {DRAWS} subgraphs:                  {drawn - ready:.2f} s "
        f"({1000 * (drawn - ready) / DRAWS:.1f} ms each, mean {sum(sizes) / DRAWS:.1f} nodes)"
    )


if __name__ == "__main__":
    main()
