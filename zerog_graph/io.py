"""Loaders: JSON, ZeroG's `.pt` files, PyG `Data`, and a pair of CSV files."""

import csv
import json
from pathlib import Path
from typing import Optional

import torch

from .graph import GraphError, TextGraph

JSON_REQUIRED_KEYS = ("texts", "edges", "labels", "label_names")


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise GraphError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None


def load_json(path, **overrides) -> TextGraph:
    """A graph in the JSON format of README.md ("Graph files")."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise GraphError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise GraphError(f"{path}: expected a JSON object, got {type(data).__name__}")
    missing = [key for key in JSON_REQUIRED_KEYS if key not in data]
    if missing:
        raise GraphError(f"{path}: missing key(s) {missing}; required: {list(JSON_REQUIRED_KEYS)}")
    edges = data["edges"]
    if edges and not all(
        isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(v, int) for v in e) for e in edges
    ):
        bad = next(
            i
            for i, e in enumerate(edges)
            if not (isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(v, int) for v in e))
        )
        raise GraphError(f"{path}: edges[{bad}] = {edges[bad]!r} is not a pair of node indices")
    if not all(isinstance(label, int) for label in data["labels"]):
        bad = next(i for i, label in enumerate(data["labels"]) if not isinstance(label, int))
        raise GraphError(f"{path}: labels[{bad}] (node {bad}) = {data['labels'][bad]!r} is not an integer")
    fields = dict(
        texts=data["texts"],
        edge_index=torch.tensor(edges, dtype=torch.long).T if edges else torch.empty(2, 0, dtype=torch.long),
        labels=data["labels"],
        label_names=data["label_names"],
        description=data.get("description", ""),
        label_texts=data.get("label_texts"),
        name=data.get("name", Path(path).stem),
        test_mask=data.get("test_mask"),
        directed=data.get("directed", False),
        source=str(path),
    )
    fields.update(overrides)
    return TextGraph(**fields)


def from_pyg(data, name: str = "graph", source: str = "<Data>", **overrides) -> TextGraph:
    """A graph from a PyG `Data` with `raw_texts`, `y`, `edge_index` and class names in
    `label_name` (or `label_names`, `category_names`); `label_text` gives class descriptions."""
    texts = getattr(data, "raw_texts", None) or getattr(data, "raw_text", None)
    if texts is None:
        raise GraphError(f"{source}: the Data object has no 'raw_texts' field")
    label_names = next(
        (
            getattr(data, key)
            for key in ("label_name", "label_names", "category_names")
            if getattr(data, key, None) is not None
        ),
        None,
    )
    if label_names is None:
        raise GraphError(f"{source}: the Data object has no 'label_name' field")
    fields = dict(
        texts=list(texts),
        edge_index=data.edge_index,
        labels=data.y.flatten(),
        label_names=list(label_names),
        label_texts=getattr(data, "label_text", None),
        name=name,
        source=source,
        test_mask=getattr(data, "test_mask", None),
    )
    fields.update(overrides)
    return TextGraph(**fields)


def load_pt(path, **overrides) -> TextGraph:
    """A ZeroG `.pt` file (a pickled PyG `Data`), loaded with `weights_only=True`."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    with torch.serialization.safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage]):
        try:
            data = torch.load(path, weights_only=True)
        except Exception as error:  # pickle.UnpicklingError for anything but tensors and PyG Data
            raise GraphError(
                f"{path}: refused by torch.load(weights_only=True): {str(error).splitlines()[0]}"
            ) from None
    if isinstance(data, (list, tuple)) and data:
        data = data[0]
    if not isinstance(data, Data):
        raise GraphError(f"{path}: expected a torch_geometric Data object, got {type(data).__name__}")
    return from_pyg(data, name=Path(path).stem, source=str(path), **overrides)


def load_csv(nodes_path, edges_path, label_names: Optional[list] = None, **overrides) -> TextGraph:
    """A graph from `nodes.csv` (columns id, text, label) and `edges.csv` (source, target).

    Labels may be class indices (then `label_names` is required) or class names; an empty label
    marks an unlabelled node.
    """
    rows = _read_csv(nodes_path, ("id", "text", "label"))
    index = {}
    for line, row in rows:
        if row["id"] in index:
            raise GraphError(f"{nodes_path}:{line}: duplicate node id {row['id']!r}")
        index[row["id"]] = len(index)
    raw_labels = [row["label"].strip() for _, row in rows]
    if label_names is None:
        label_names = sorted({label for label in raw_labels if label})
        labels = [label_names.index(label) if label else -1 for label in raw_labels]
    else:
        try:
            labels = [int(label) if label else -1 for label in raw_labels]
        except ValueError as error:
            raise GraphError(f"{nodes_path}: label {error}") from None
    edges = []
    for line, row in _read_csv(edges_path, ("source", "target")):
        for column in ("source", "target"):
            if row[column] not in index:
                raise GraphError(f"{edges_path}:{line}: {column} {row[column]!r} is not a node id in {nodes_path}")
        edges.append((index[row["source"]], index[row["target"]]))
    fields = dict(
        texts=[row["text"] for _, row in rows],
        edge_index=torch.tensor(edges, dtype=torch.long).T if edges else torch.empty(2, 0, dtype=torch.long),
        labels=labels,
        label_names=label_names,
        name=Path(nodes_path).parent.name or "graph",
        source=str(nodes_path),
    )
    fields.update(overrides)
    return TextGraph(**fields)


def _read_csv(path, columns) -> list:
    with open(path, newline="", encoding="utf-8") as f:
        try:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise GraphError(f"{path}: missing column(s) {missing}; has {reader.fieldnames}")
            return [(line, row) for line, row in enumerate(reader, start=2)]
        except UnicodeDecodeError as error:
            raise GraphError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
