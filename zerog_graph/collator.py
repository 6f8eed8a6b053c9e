"""Turns a list of subgraphs into one batch for `ZeroGModel.forward`."""

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch_geometric.data import Batch, Data

from configuration_zerog import Templates, fill_template
from tokenization_zerog import tokenize_texts


class Subgraph(Data):
    """A subgraph for PyG's `Batch.from_data_list`: its edges are offset by the nodes before it (as any `Data`'s),
    its `labels` (rows of the label texts) by the classes before it; `class_index` batched gives `label_batch`."""

    def __inc__(self, key, value, *args, **kwargs):
        return self.class_index.numel() if key == "labels" else super().__inc__(key, value, *args, **kwargs)


@dataclass
class ZeroGCollator:
    """Joins subgraphs into one disjoint graph (PyG's `Batch.from_data_list`) and tokenizes their texts.

    Returns `input_ids`/`attention_mask` (every node text), `edge_index` (offset per subgraph),
    `batch` (subgraph of each node), `prompt_*` (one description per subgraph), `label_*` (every
    subgraph's class texts), `label_batch`, and `labels` as rows of the label texts (-1: unlabelled).
    With `statistics` (a list, per source graph, of its `(mean, inverse std)`, as `SourceStatistics`
    keeps them) it adds `node_mean` and `node_scale`, `[G, H]`: each subgraph's whole-graph statistics.

    `templates` are the model's `config.templates` (one string: the same template for all three kinds of text);
    each subgraph's are filled with its own graph's class names and description.
    """

    tokenizer: object
    templates: Union[Templates, str, None] = None
    max_length: int = 512
    statistics: Optional[list] = None

    def __post_init__(self):
        # a tuple: `config.templates`, maybe of a remote-code copy of configuration_zerog (another Templates class)
        templates = self.templates if isinstance(self.templates, tuple) else [self.templates] * 3
        self.templates = Templates(*templates)

    def tokenize(self, items: list, kind: str, texts_of, prefix: str = "") -> dict:
        """The texts `texts_of(item)` of every item, each item's with its graph's filled template of `kind`."""
        rows = {"input_ids": [], "attention_mask": []}
        for item in items:
            template = fill_template(getattr(self.templates, kind), item.get("class_names"), item["description"])
            encoded = tokenize_texts(self.tokenizer, texts_of(item), template, self.max_length, padding=False)
            for key in rows:
                rows[key] += encoded[key]
        padded = self.tokenizer.pad(rows, return_tensors="pt")
        return {f"{prefix}input_ids": padded["input_ids"], f"{prefix}attention_mask": padded["attention_mask"]}

    def __call__(self, items: list) -> dict:
        union = Batch.from_data_list(
            [
                Subgraph(
                    edge_index=item["edge_index"],
                    num_nodes=len(item["texts"]),
                    labels=item["labels"],
                    class_index=torch.arange(len(item["class_texts"])),
                )
                for item in items
            ],
            follow_batch=["class_index"],
        )
        unlabelled = torch.cat([item["labels"] for item in items]) < 0
        batch = {
            **self.tokenize(items, "node", lambda item: item["texts"]),
            **self.tokenize(items, "description", lambda item: [item["description"]], "prompt_"),
            **self.tokenize(items, "label", lambda item: item["class_texts"], "label_"),
            "edge_index": union.edge_index,
            "batch": union.batch,
            "label_batch": union.class_index_batch,
            "labels": union.labels.masked_fill(unlabelled, -1),
        }
        if self.statistics is not None:
            batch["node_mean"] = torch.stack([self.statistics[item["graph_index"]][0] for item in items])
            batch["node_scale"] = torch.stack([self.statistics[item["graph_index"]][1] for item in items])
        return batch
