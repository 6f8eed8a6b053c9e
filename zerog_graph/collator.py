"""Turns a list of subgraphs into one batch for `ZeroGModel.forward`."""

from dataclasses import dataclass
from typing import Optional

import torch

from modeling_zerog import tokenize_texts


@dataclass
class ZeroGCollator:
    """Concatenates subgraphs into one disjoint graph and tokenizes their texts.

    Returns `input_ids`/`attention_mask` (every node text), `edge_index` (offset per subgraph),
    `batch` (subgraph of each node), `prompt_*` (one description per subgraph), `label_*` (every
    subgraph's class texts), `label_batch`, and `labels` as rows of the label texts (-1: unlabelled).
    With `statistics` (a list, per source graph, of its `(mean, inverse std)`, as `SourceStatistics`
    keeps them) it adds `node_mean` and `node_scale`, `[G, H]`: each subgraph's whole-graph statistics.
    """

    tokenizer: object
    template: Optional[str] = None
    max_length: int = 512
    statistics: Optional[list] = None

    def tokenize(self, texts: list, prefix: str = "") -> dict:
        encoded = tokenize_texts(self.tokenizer, texts, self.template, self.max_length)
        return {f"{prefix}input_ids": encoded["input_ids"], f"{prefix}attention_mask": encoded["attention_mask"]}

    def __call__(self, items: list) -> dict:
        node_counts = torch.tensor([len(item["texts"]) for item in items])
        label_counts = torch.tensor([len(item["class_texts"]) for item in items])
        node_offsets = torch.cumsum(node_counts, 0) - node_counts
        label_offsets = torch.cumsum(label_counts, 0) - label_counts
        labels = torch.cat(
            [
                torch.where(item["labels"] >= 0, item["labels"] + offset, -1)
                for item, offset in zip(items, label_offsets)
            ]
        )
        batch = {
            **self.tokenize([text for item in items for text in item["texts"]]),
            **self.tokenize([item["description"] for item in items], "prompt_"),
            **self.tokenize([text for item in items for text in item["class_texts"]], "label_"),
            "edge_index": torch.cat([item["edge_index"] + offset for item, offset in zip(items, node_offsets)], dim=1),
            "batch": torch.repeat_interleave(torch.arange(len(items)), node_counts),
            "label_batch": torch.repeat_interleave(torch.arange(len(items)), label_counts),
            "labels": labels,
        }
        if self.statistics is not None:
            batch["node_mean"] = torch.stack([self.statistics[item["graph_index"]][0] for item in items])
            batch["node_scale"] = torch.stack([self.statistics[item["graph_index"]][1] for item in items])
        return batch
