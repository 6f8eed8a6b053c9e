"""Loaders: JSON, ZeroG's `.pt` files, PyG `Data`, and a pair of CSV files."""

import csv
import difflib
import json
import os
import stat
import sys
import unicodedata
import zipfile
from pathlib import Path
from typing import Optional

import torch

from .graph import GraphError, TextGraph

JSON_REQUIRED_KEYS = ("texts", "edges", "labels", "label_names")
JSON_KEYS = JSON_REQUIRED_KEYS + ("description", "label_texts", "name", "test_mask", "directed")
# Labels that pandas writes for a missing value (`astype(str)`, `to_csv(na_rep=...)`): never inferred as a class.
MISSING_VALUES = ("nan", "NaN", "None", "<NA>", "NaT", "null", "NULL")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a node text may be long (the JSON loader takes any length)


def check_regular_file(path) -> None:
    """Refuses a path (or what its symlink points at) that is not a regular file: a device such as /dev/zero,
    a pipe or a socket may never end, and would be read until memory runs out."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise GraphError(f"{path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(mode):
        raise GraphError(f"{path}: not a regular file (a device, pipe or socket is never read)")


def read_text(path: Path) -> str:
    check_regular_file(path)
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark, as spreadsheets write, is skipped
    except UnicodeDecodeError as error:
        raise GraphError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None


def load_json(path, **overrides) -> TextGraph:
    """A graph in the JSON format of docs/formats.md."""
    try:
        from hub_zerog import unique_keys

        data = json.loads(read_text(path), object_pairs_hook=unique_keys)
    except ValueError as error:  # JSONDecodeError, a key given twice, or an integer of over 4,300 digits
        raise GraphError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise GraphError(f"{path}: JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise GraphError(f"{path}: expected a JSON object, got {type(data).__name__}")
    for key in data:  # other keys are metadata, ignored; one a letter or two from a field is a typo, not metadata
        near = difflib.get_close_matches(key, JSON_KEYS, n=1, cutoff=0.8) if key not in JSON_KEYS else []
        if near:
            raise GraphError(f"{path}: key {key!r} is not read (did you mean {near[0]!r}?); fix or remove it")
    missing = [key for key in JSON_REQUIRED_KEYS if key not in data]
    if missing:
        raise GraphError(f"{path}: missing key(s) {missing}; required: {list(JSON_REQUIRED_KEYS)}")
    if not isinstance(data["texts"], list):
        raise GraphError(f"{path}: texts must be a list of strings, got {type(data['texts']).__name__}")
    fields = dict(
        texts=data["texts"],
        edge_index=json_edges(data["edges"], len(data["texts"]), path),
        labels=data["labels"],
        label_names=data["label_names"],
        description=data.get("description", ""),
        label_texts=data.get("label_texts"),
        name=data.get("name", readable(Path(path).stem)),
        test_mask=data.get("test_mask"),
        directed=data.get("directed", False),
        source=readable(str(path)),
    )
    fields.update(overrides)
    return TextGraph(**fields)


def json_edges(edges, num_nodes: int, path) -> torch.Tensor:
    """`[2, E]` from a JSON list of `[i, j]` pairs of node indices (booleans are not indices)."""
    if not isinstance(edges, list):
        raise GraphError(f"{path}: edges must be a list of [i, j] pairs, got {type(edges).__name__}")
    for i, edge in enumerate(edges):
        if not (isinstance(edge, list) and len(edge) == 2 and all(type(v) is int for v in edge)):
            raise GraphError(f"{path}: edges[{i}] = {edge!r} is not a pair of node indices")
        if not (0 <= edge[0] < num_nodes and 0 <= edge[1] < num_nodes):
            raise GraphError(f"{path}: edges[{i}] = {edge} is out of range for {num_nodes} nodes")
    return torch.tensor(edges, dtype=torch.long).T if edges else torch.empty(2, 0, dtype=torch.long)


def from_pyg(data, name: Optional[str] = None, source: str = "<Data>", **overrides) -> TextGraph:
    """A graph from a PyG `Data` with `raw_texts`, `y`, `edge_index` and class names in `label_name` (or
    `label_names`, `category_names`); optional `label_text` (class descriptions), `description`, `test_mask`,
    `name` (else "graph") and `directed`, as `to_pyg` writes them. `overrides` are `TextGraph` fields."""
    texts = pyg_field(data, ("raw_texts", "raw_text"), source, "the text of each node")
    if not isinstance(texts, (list, tuple)):
        raise GraphError(f"{source}: raw_texts is a {type(texts).__name__}; expected a list of strings")
    label_names = pyg_field(data, ("label_name", "label_names", "category_names"), source, "the class names")
    labels = pyg_field(data, ("y",), source, "the class of each node")
    edge_index = pyg_field(data, ("edge_index",), source, "the edges")
    for field_name, value in (("y", labels), ("edge_index", edge_index)):
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.dtype == torch.bool):
            raise GraphError(f"{source}: {field_name} is a {value.dtype} tensor; expected integers")
    stated = (
        data._store.get("num_nodes") if "num_nodes" in data else getattr(getattr(data, "x", None), "shape", [None])[0]
    )
    if stated is not None and stated != len(texts):  # said by num_nodes, or by the rows of x
        field_name = "num_nodes" if "num_nodes" in data else "x"
        raise GraphError(f"{source}: {field_name} says {stated} nodes, but raw_texts has {len(texts)} texts")
    fields = dict(
        texts=list(texts),
        edge_index=edge_index,
        labels=node_labels(labels, len(texts), source),
        label_names=list(label_names) if isinstance(label_names, (list, tuple)) else label_names,
        label_texts=getattr(data, "label_text", None),
        description=getattr(data, "description", None) or "",
        name=name or getattr(data, "name", None) or "graph",
        source=source,
        test_mask=getattr(data, "test_mask", None),
        directed=getattr(data, "directed", None) or False,
    )
    fields.update(overrides)
    return TextGraph(**fields)


def node_labels(labels, num_nodes: int, source: str):
    """`y` as one label per node: a tensor of shape `[N]` or `[N, 1]` flattened (anything else, `[2, 2]` for 4
    nodes say, is refused rather than flattened into other nodes' labels); a list is left to `TextGraph`."""
    if not isinstance(labels, torch.Tensor):
        return labels
    if labels.shape not in ((num_nodes,), (num_nodes, 1)):
        raise GraphError(f"{source}: y has shape {tuple(labels.shape)}; expected one label per node ({num_nodes},)")
    return labels.flatten()


def to_pyg(graph: TextGraph):
    """The graph as a PyG `Data`: `edge_index`, `y` (-1 for unlabelled), `raw_texts`, `label_names`, and where
    set `label_text`, `description`, `test_mask`, `name` and `directed`; `from_pyg` reads it back."""
    from torch_geometric.data import Data

    data = Data(
        edge_index=graph.edge_index.clone(),
        y=graph.labels.clone(),
        raw_texts=list(graph.texts),
        label_names=list(graph.label_names),
        name=graph.name,
        num_nodes=graph.num_nodes,
    )
    optional = {
        "label_text": None if graph.label_texts is None else list(graph.label_texts),
        "description": graph.description or None,
        "test_mask": None if graph.test_mask is None else graph.test_mask.clone(),
        "directed": graph.directed or None,
    }
    for key, value in optional.items():
        if value is not None:
            data[key] = value
    return data


def as_text_graph(graph) -> TextGraph:
    """A `TextGraph` as it is, a PyG `Data` read by `from_pyg`; anything else is a TypeError naming its type."""
    from torch_geometric.data import Data

    if isinstance(graph, TextGraph):
        return graph
    if isinstance(graph, Data):
        return from_pyg(graph)
    raise TypeError(f"expected a TextGraph or a torch_geometric Data, got {type(graph).__name__}")


def pyg_field(data, keys: tuple, source: str, meaning: str):
    """The first of `keys` that `data` holds; an error naming `keys[0]` when none is there."""
    value = next((getattr(data, key) for key in keys if getattr(data, key, None) is not None), None)
    if value is None:
        raise GraphError(f"{source}: the Data object has no {keys[0]!r} field ({meaning})")
    return value


def load_safely(path, safe: Optional[list] = None):
    """`torch.load(path, weights_only=True)` with the classes `safe` allowed: no pickled code runs; a refusal
    names the file."""
    check_regular_file(path)
    check_inflated_size(path)
    with torch.serialization.safe_globals(safe or []):
        try:
            return torch.load(path, weights_only=True)
        except Exception as error:  # pickle.UnpicklingError for anything but tensors and allowed classes
            raise GraphError(
                f"{path}: refused by torch.load(weights_only=True): {str(error).splitlines()[0]}"
            ) from None


def load_pyg_file(path):
    """The PyG `Data` of a file saved by `torch.save` (alone, or first of a list), PyG's own classes allowed."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    data = load_safely(path, [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage])
    if isinstance(data, (list, tuple)) and data:
        data = data[0]
    if not isinstance(data, Data):
        raise GraphError(f"{path}: expected a torch_geometric Data object, got {type(data).__name__}")
    return data


def load_pt(path, **overrides) -> TextGraph:
    """A ZeroG `.pt` file (a pickled PyG `Data`), loaded with `weights_only=True`."""
    return from_pyg(load_pyg_file(path), name=readable(Path(path).stem), source=readable(str(path)), **overrides)


# `torch.save` stores its zip entries uncompressed; a compressed entry may inflate far beyond the file's size.
MAX_INFLATION = 4


def check_inflated_size(path) -> None:
    """Refuses a `.pt` zip archive whose entries inflate to more than `MAX_INFLATION` times the file's size (a zip
    bomb: a 760 KB file of DEFLATE entries held 939 MB), before `torch.load` inflates anything. Files that are not
    zip archives (torch's legacy format) are read as they are: they hold no compression."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise GraphError(f"{path}: not a readable zip archive ({error})") from None
    size = os.path.getsize(path)
    if inflated > MAX_INFLATION * size + 2**20:
        raise GraphError(
            f"{path}: its zip entries inflate to {inflated:,} bytes from a file of {size:,} (compressed); torch.save "
            f"writes them uncompressed, so this is refused before anything is inflated"
        )


def load_csv(nodes_path, edges_path, label_names: Optional[list] = None, **overrides) -> TextGraph:
    """A graph from `nodes.csv` (columns id, text and an optional label) and `edges.csv` (source, target).

    A label is a class name, or empty for an unlabelled node. Without `label_names` the classes are
    the distinct labels found, sorted; with it, the label column may be absent and every label must
    be one of `label_names`.
    """
    rows = read_csv(nodes_path, ("id", "text"))
    index, seen = {}, {}
    for line, row in rows:
        if not row["id"]:
            raise GraphError(f"{nodes_path}:{line}: empty node id")
        if row["id"] in index:
            raise GraphError(f"{nodes_path}:{line}: duplicate node id {row['id']!r}")
        twin = seen.setdefault(id_key(row["id"]), row["id"])
        if twin != row["id"]:  # a spreadsheet or a hand-written edges.csv would not tell them apart
            raise GraphError(
                f"{nodes_path}:{line}: node id {ascii(row['id'])} differs from node id {ascii(twin)} only by spaces, "
                f"leading zeros or Unicode form (NFC/NFD); make the ids distinct"
            )
        index[row["id"]] = len(index)
    raw_labels = [(line, (row.get("label") or "").strip()) for line, row in rows]
    if label_names is None:
        label_names = sorted({label for _, label in raw_labels if label})
        missing = next(((line, label) for line, label in raw_labels if label in MISSING_VALUES), None)
        if missing:
            raise GraphError(
                f"{nodes_path}:{missing[0]}: label {missing[1]!r} is how pandas writes a missing value; leave the "
                f"cell empty for an unlabelled node, or give the classes (--labels) if {missing[1]!r} is one"
            )
        if not label_names:
            raise GraphError(f"{nodes_path}: no node has a label, so there are no class names; give them (--labels)")
    classes = {name: i for i, name in enumerate(label_names)}
    unknown = next(((line, label) for line, label in raw_labels if label and label not in classes), None)
    if unknown:
        raise GraphError(f"{nodes_path}:{unknown[0]}: label {unknown[1]!r} is not one of the classes {label_names}")
    fields = dict(
        texts=[row["text"] for _, row in rows],
        edge_index=read_edges(edges_path, index, nodes_path),
        labels=[classes[label] if label else -1 for _, label in raw_labels],
        label_names=list(label_names),
        name=readable(Path(nodes_path).parent.name) or "graph",
        source=readable(str(nodes_path)),
        node_ids=list(index),
    )
    fields.update(overrides)
    return TextGraph(**fields)


def id_key(node_id: str) -> str:
    """A node id without surrounding spaces, in Unicode's composed form (NFC: macOS writes file names decomposed),
    and a number without its leading zeros."""
    node_id = unicodedata.normalize("NFC", node_id.strip())
    return (node_id.lstrip("0") or "0") if node_id.isdigit() else node_id


def readable(path: str) -> str:
    """A file name as valid Unicode: bytes that are not UTF-8 (held by Python as surrogate escapes) become U+FFFD."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that no file name gave
        return path.encode("utf-8", "replace").decode("utf-8")


# An edges.csv of this size or more is read by Arrow's CSV reader, with no Python object per edge; a smaller one, and
# one that Arrow cannot read or that holds an unknown node id, by the csv module, whose errors name the line.
ARROW_EDGES_BYTES = 16 * 2**20


def read_edges(edges_path, index: dict, nodes_path) -> torch.Tensor:
    """`[2, E]` node indices of the `source` and `target` ids of `edges_path` (`index`: node id -> index)."""
    check_regular_file(edges_path)
    if os.path.getsize(edges_path) >= ARROW_EDGES_BYTES:
        edges = read_edges_arrow(edges_path, list(index))
        if edges is not None:
            return edges
    edges = []
    for line, row in read_csv(edges_path, ("source", "target")):
        for column in ("source", "target"):
            if row[column] not in index:
                raise GraphError(f"{edges_path}:{line}: {column} {row[column]!r} is not a node id in {nodes_path}")
        edges.append((index[row["source"]], index[row["target"]]))
    return torch.tensor(edges, dtype=torch.long).T if edges else torch.empty(2, 0, dtype=torch.long)


def read_edges_arrow(path, node_ids: list) -> Optional[torch.Tensor]:
    """The edges as `read_edges` gives them, read by Arrow; None where its header, a row or an id is not what the
    csv module would accept (the caller reads the file again with it, to name the fault)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    if len(set(header)) != len(header) or not {"source", "target"} <= set(header):
        return None
    options = dict(
        read_options=arrow_csv.ReadOptions(skip_rows=1, column_names=header),
        parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
        convert_options=arrow_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            include_columns=["source", "target"],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    try:
        table = arrow_csv.read_csv(path, **options)
    except (pa.ArrowException, OSError, ValueError):
        return None
    ids = pa.array(node_ids, pa.string())
    positions = [pc.index_in(table.column(column), value_set=ids) for column in ("source", "target")]
    if any(position.null_count for position in positions):
        return None
    return torch.stack([torch.from_numpy(p.to_numpy(zero_copy_only=False).astype("int64")) for p in positions])


def read_csv(path, columns) -> list:
    """(line number, row) pairs of a UTF-8 CSV file (a byte-order mark is skipped) that has `columns`;
    a row with too few or too many fields, or an unterminated quote, is refused naming its line."""
    check_regular_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, strict=True)
            header = reader.fieldnames or []
            twice = next((c for i, c in enumerate(header) if c in header[:i]), None)
            if twice is not None:  # DictReader keeps the last column of a name silently
                raise GraphError(f"{path}: the header names column {twice!r} twice; rename or drop one")
            missing = [c for c in columns if c not in header]
            if missing:
                raise GraphError(f"{path}: missing column(s) {missing}; has {reader.fieldnames}")
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    found = (
                        len(reader.fieldnames) + len(row[None])
                        if None in row
                        else len(row) - sum(v is None for v in row.values())
                    )
                    raise GraphError(
                        f"{path}:{reader.line_num}: {found} field(s) where the header has "
                        f"{len(reader.fieldnames)} ({','.join(reader.fieldnames)})"
                    )
                rows.append((reader.line_num, row))
            return rows
    except UnicodeDecodeError as error:
        raise GraphError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    except csv.Error as error:
        raise GraphError(f"{path}:{reader.line_num}: {error}") from None
