"""The in-memory text-attributed graph, validated on construction."""

import hashlib
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from checks_zerog import check_class_names, check_edge_index, check_label_texts


class GraphError(ValueError):
    """A graph's input is invalid; the message names the source, field and node or edge."""


@dataclass
class TextGraph:
    """A graph whose nodes and classes are texts.

    Args:
        texts (list[str]): the text of each node.
        edge_index (torch.Tensor): `[2, E]` edges. Undirected graphs are stored with both
            directions; self-loops and duplicates are removed (propagation adds I itself).
        labels (torch.Tensor): `[N]` class of each node, -1 for unlabelled.
        label_names (list[str]): name of each class.
        description (str): what the graph is; the text of the prompt node.
        label_texts (list[str], optional): a longer text per class; defaults to the names.
        name (str): short name, used in reports and cache keys.
        test_mask (torch.Tensor, optional): `[N]` bool, the nodes to score (default: all labelled).
        directed (bool): keep edges one-way (default: `False`, edges made two-way).
        source (str): where the graph came from, named in error messages.
        node_ids (list[str], optional): the source's id of each node, written in predictions
            (default: the node's index).
    """

    texts: list
    edge_index: torch.Tensor
    labels: torch.Tensor
    label_names: list
    description: str = ""
    label_texts: Optional[list] = None
    name: str = "graph"
    test_mask: Optional[torch.Tensor] = None
    directed: bool = False
    source: str = field(default="<memory>", repr=False)
    node_ids: Optional[list] = field(default=None, repr=False)

    def __post_init__(self):
        where = self.source
        check_strings(self.texts, "texts", where, per_node=True)
        num_nodes = len(self.texts)
        if num_nodes == 0:
            raise GraphError(f"{where}: texts is empty; a graph needs at least one node")
        check_strings(self.label_names, "label_names", where)
        if not self.label_names:
            raise GraphError(f"{where}: label_names must be a non-empty list of strings")
        try:  # the checks of `ZeroGModel.classify` too
            check_class_names(self.label_names, "label_names")
            if self.label_texts is not None:
                check_strings(self.label_texts, "label_texts", where)
                check_label_texts(self.label_texts, self.label_names, "label_texts")
        except GraphError:
            raise
        except ValueError as error:
            raise GraphError(f"{where}: {error}") from None
        for name in ("description", "name"):
            if not isinstance(getattr(self, name), str):
                raise GraphError(f"{where}: {name} must be a string, got {type(getattr(self, name)).__name__}")
            check_unicode(getattr(self, name), name, where)
        if not isinstance(self.directed, bool):
            raise GraphError(f"{where}: directed must be true or false, got {self.directed!r}")
        if self.node_ids is not None:
            check_strings(self.node_ids, "node_ids", where)
            if len(self.node_ids) != num_nodes:
                raise GraphError(f"{where}: {len(self.node_ids)} node ids for {num_nodes} nodes")
        self.labels = index_tensor(self.labels, "labels", where, low=-1, high=len(self.label_names))
        if self.labels.shape != (num_nodes,):
            raise GraphError(
                f"{where}: labels has shape {tuple(self.labels.shape)}, expected one label per node ({num_nodes})"
            )
        bad = ((self.labels < -1) | (self.labels >= len(self.label_names))).nonzero().flatten()
        if bad.numel():
            node = int(bad[0])
            label, num_classes = int(self.labels[node]), len(self.label_names)
            raise GraphError(f"{where}: labels[{node}] = {label} (node {node}) is not in [-1, {num_classes})")
        edge_index = index_tensor(self.edge_index, "edge_index", where)
        if edge_index.numel() == 0:
            edge_index = torch.empty(2, 0, dtype=torch.long)
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise GraphError(f"{where}: edge_index has shape {tuple(edge_index.shape)}; expected (2, E)")
        bad = ((edge_index < 0) | (edge_index >= num_nodes)).any(0).nonzero().flatten()
        if bad.numel():
            edge = int(bad[0])
            raise GraphError(
                f"{where}: edge {edge} {edge_index[:, edge].tolist()} is out of range for {num_nodes} nodes"
            )
        from torch_geometric.utils import coalesce, remove_self_loops, to_undirected  # not for `zerog --help`

        self.edge_index = None  # the given edges are not held while the copies below are made
        edge_index, _ = remove_self_loops(edge_index)
        self.edge_index = (
            coalesce(edge_index, num_nodes=num_nodes)
            if self.directed
            else to_undirected(edge_index, num_nodes=num_nodes)
        )
        if self.test_mask is not None:
            self.test_mask = bool_tensor(self.test_mask, "test_mask", where)
            if self.test_mask.shape != (num_nodes,):
                raise GraphError(
                    f"{where}: test_mask has shape {tuple(self.test_mask.shape)}, expected ({num_nodes},)"
                )

    def check(self) -> None:
        """Checks again what may have been changed since construction (the graph is a plain dataclass): one label per
        node, each in `[-1, C)`, edge ids in range, the test mask's shape. A GraphError names the node or edge."""
        where, num_nodes = self.source, self.num_nodes
        labels = self.labels
        if not isinstance(labels, torch.Tensor) or labels.shape != (num_nodes,) or labels.is_floating_point():
            raise GraphError(f"{where}: labels must be an integer tensor of shape ({num_nodes},), one per node")
        bad = ((labels < -1) | (labels >= self.num_classes)).nonzero().flatten()
        if bad.numel():
            node = int(bad[0])
            raise GraphError(
                f"{where}: labels[{node}] = {int(labels[node])} (node {node}) is not in [-1, {self.num_classes})"
            )
        try:
            check_edge_index(self.edge_index, num_nodes)
        except ValueError as error:
            raise GraphError(f"{where}: {error}") from None
        mask = self.test_mask
        if mask is not None and not (isinstance(mask, torch.Tensor) and mask.dtype == torch.bool):
            raise GraphError(f"{where}: test_mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask))}")
        if mask is not None and tuple(mask.shape) != (num_nodes,):
            raise GraphError(f"{where}: test_mask has shape {tuple(mask.shape)}, expected ({num_nodes},)")
        for field_name, values, expected in (
            ("node_ids", self.node_ids, num_nodes),
            ("label_texts", self.label_texts, self.num_classes),
        ):
            if values is not None and len(values) != expected:
                raise GraphError(f"{where}: {field_name} has {len(values)} entries, expected {expected}")

    @property
    def num_nodes(self) -> int:
        return len(self.texts)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def class_texts(self) -> list:
        """The text encoded for each class: its label text, or its name with underscores as spaces."""
        return list(self.label_texts) if self.label_texts else [n.replace("_", " ") for n in self.label_names]

    @property
    def eval_mask(self) -> torch.Tensor:
        """The nodes that are scored: the test mask, or every labelled node."""
        labelled = self.labels >= 0
        return labelled & self.test_mask if self.test_mask is not None else labelled

    def content_hash(self) -> str:
        """A hash of what the graph holds (texts, edges, labels, classes), whatever its file or name."""
        digest = hashlib.sha256()
        for text in self.texts + ["\0"] + list(self.label_names) + ["\0"] + self.class_texts + [self.description]:
            digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
        digest.update(self.edge_index.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return digest.hexdigest()[:16]

    def subgraph(self, nodes: torch.Tensor) -> "TextGraph":
        """The graph induced by `nodes`, relabelled 0..len(nodes)-1."""
        from torch_geometric.utils import subgraph

        nodes = torch.as_tensor(nodes, dtype=torch.long)
        edge_index, _ = subgraph(nodes, self.edge_index, relabel_nodes=True, num_nodes=self.num_nodes)
        return TextGraph(
            texts=[self.texts[i] for i in nodes.tolist()],
            edge_index=edge_index,
            labels=self.labels[nodes],
            label_names=self.label_names,
            description=self.description,
            label_texts=self.label_texts,
            name=self.name,
            test_mask=None if self.test_mask is None else self.test_mask[nodes],
            directed=self.directed,
            source=self.source,
            node_ids=None if self.node_ids is None else [self.node_ids[i] for i in nodes.tolist()],
        )


def check_strings(values, field_name: str, where: str, per_node: bool = False):
    """`values` is a list of valid Unicode strings (not one string, whose characters would be the items)."""
    if not isinstance(values, (list, tuple)):
        raise GraphError(f"{where}: {field_name} must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        position = f"{field_name}[{i}]" + (f" (node {i})" if per_node else "")
        if not isinstance(value, str):
            raise GraphError(f"{where}: {position} is {type(value).__name__}, not str")
        check_unicode(value, position, where)


def check_unicode(value: str, position: str, where: str):
    """Refuses a string that UTF-8 cannot encode (a lone surrogate, as JSON's `\\ud800` gives)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise GraphError(
            f"{where}: {position} holds a lone surrogate at character {error.start} (not valid Unicode)"
        ) from None


def index_tensor(values, field_name: str, where: str, low: int = -(2**63), high: int = 2**63) -> torch.Tensor:
    """An integer tensor from a tensor or a list of ints (of a list of lists); floats and booleans are
    refused, and list values outside [low, high) are reported before they can overflow int64."""
    values = from_numpy(values)
    if isinstance(values, torch.Tensor):
        if values.layout != torch.strided:
            raise GraphError(f"{where}: {field_name} is a {values.layout} tensor; expected a dense one")
        if values.dtype == torch.bool or values.is_floating_point() or values.is_complex():
            raise GraphError(f"{where}: {field_name} is a {values.dtype} tensor; expected integer indices")
        if values.dtype == torch.uint64 and (values.view(torch.int64) < 0).any():  # 2**63 and above
            raise GraphError(f"{where}: {field_name} holds uint64 values of 2**63 or more, which do not fit int64")
        return values.long()
    if not isinstance(values, (list, tuple)):
        raise GraphError(f"{where}: {field_name} must be a list of integers, got {type(values).__name__}")
    nested = bool(values) and isinstance(values[0], (list, tuple))
    mixed = next((i for i, v in enumerate(values) if isinstance(v, (list, tuple)) != nested), None)
    if mixed is not None:
        raise GraphError(f"{where}: {field_name}[{mixed}] = {values[mixed]!r} mixes lists and single integers")
    items = (
        ((f"[{r}][{c}]", v) for r, row in enumerate(values) for c, v in enumerate(row))
        if nested
        else ((f"[{i}]", v) for i, v in enumerate(values))
    )
    for position, value in items:
        node = "" if nested else f" (node {position[1:-1]})"
        if isinstance(value, bool) or not isinstance(value, int):
            raise GraphError(f"{where}: {field_name}{position}{node} = {value!r} is {type(value).__name__}, not int")
        if not low <= value < high:
            raise GraphError(f"{where}: {field_name}{position} = {value}{node} is not in [{low}, {high})")
    try:
        return torch.tensor(values, dtype=torch.long)
    except ValueError as error:  # rows of different lengths
        raise GraphError(f"{where}: {field_name} is not a rectangular list of integers ({error})") from None


def from_numpy(values):
    """A numpy array as a tensor (its dtype is then checked like a tensor's); anything else unchanged."""
    return torch.from_numpy(values) if isinstance(values, np.ndarray) and values.dtype != object else values


def bool_tensor(values, field_name: str, where: str) -> torch.Tensor:
    """A bool tensor from a bool tensor or a list of true/false; anything else is refused."""
    values = from_numpy(values)
    if isinstance(values, torch.Tensor):
        if values.dtype != torch.bool:
            raise GraphError(f"{where}: {field_name} is a {values.dtype} tensor; expected bool")
        return values
    if not isinstance(values, (list, tuple)):
        raise GraphError(f"{where}: {field_name} must be a list of true/false, got {type(values).__name__}")
    bad = next((i for i, v in enumerate(values) if not isinstance(v, bool)), None)
    if bad is not None:
        raise GraphError(f"{where}: {field_name}[{bad}] = {values[bad]!r} is not true or false")
    return torch.tensor(values, dtype=torch.bool)


def safe_name(name: str) -> str:
    """A file-name-safe slug of a graph name: letters, digits, `.`, `_` and `-` only, never empty,
    never `.` or `..`, at most 64 characters."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")[:64]
    return slug or "graph"


def result_names(graphs: list) -> list:
    """One distinct, file-name-safe key per graph, in order: `safe_name(graph.name)`, with a short hash
    of the graph's source added where the slug changed the name or two graphs would share it."""
    slugs = [safe_name(graph.name) for graph in graphs]
    names = []
    for graph, slug in zip(graphs, slugs):
        if slug != graph.name or slugs.count(slug) > 1:
            tag = hashlib.sha256(f"{graph.source}\0{graph.content_hash()}".encode("utf-8", "surrogatepass"))
            slug = f"{slug}-{tag.hexdigest()[:8]}"
        names.append(slug)
    # Same name, same source and same content: number them.
    return [f"{name}-{names[: i + 1].count(name)}" if names.count(name) > 1 else name for i, name in enumerate(names)]
