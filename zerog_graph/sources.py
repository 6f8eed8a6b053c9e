"""Named graphs from their publisher: the Hub dataset of the LLM-BP authors (Wang et al., 2025),
`Graph-COM/Text-Attributed-Graphs`, at a pinned commit, through huggingface_hub.

Each graph is a folder of three files: `processed_data.pt` (a PyG `Data`: `edge_index`, `y`, split masks and
encoder features), `raw_texts.pt` (a list of node texts) and `categories.csv` (a `name` column, a class per row,
in label order). Downloaded files are checked against the checksum the Hub records for them at that commit (the
LFS sha256, or the git blob id of a small file), read with `torch.load(weights_only=True)` (PyG's classes only),
and the graph is built once into the ZeroG cache as JSON. A folder in that layout under a data folder
(`$ZEROG_DATA/cora/processed_data.pt`, ...) is read instead of downloading: it was never checked against the
publisher's checksums, so its build is cached under the folder's files (path, size, times), never under the
publisher's name and commit, and an edit to the folder is read again.
"""

import csv
import hashlib
import io
import logging
import os
from pathlib import Path
from typing import NamedTuple

from .graph import GraphError, TextGraph
from .io import check_regular_file, load_json, load_pyg_file, load_safely, node_labels
from .paths import cache_dir, remove_entry, write_atomically

logger = logging.getLogger(__name__)

GRAPH_COM = "Graph-COM/Text-Attributed-Graphs"
# The commit "upload datasets" of the dataset; a branch could change under a result.
GRAPH_COM_REVISION = "4a59e25d4ed77b6541d6830ef89be99942a01394"
GRAPH_COM_FILES = ("processed_data.pt", "raw_texts.pt", "categories.csv")


class HubGraph(NamedTuple):
    """Where a named graph's files are: a folder of `repo_id` at `revision`."""

    folder: str
    repo_id: str = GRAPH_COM
    revision: str = GRAPH_COM_REVISION
    files: tuple = GRAPH_COM_FILES

    @property
    def url(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id}/tree/{self.revision}/{self.folder}"


def built_path(name: str, source: HubGraph) -> Path:
    """The cached JSON of a graph built from `source`'s files as downloaded (and checked) at its revision."""
    return cache_dir() / "data" / f"{name}-{source.repo_id.replace('/', '--')}-{source.revision[:12]}.json"


def local_built_path(name: str, paths: dict) -> Path:
    """The cached JSON of a graph built from the local files `paths`: keyed by each file's resolved path, device,
    inode, size and modification and change times, so that an edited or another folder is built anew."""
    digest = hashlib.sha256()
    for path in paths.values():
        try:
            info = os.stat(path)
        except OSError as error:
            raise GraphError(f"{path}: cannot be read ({error.strerror})") from None
        identity = (os.path.realpath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        digest.update(repr(identity).encode("utf-8", "surrogateescape"))
    return cache_dir() / "data" / f"{name}-local-{digest.hexdigest()[:16]}.json"


def load_hub_graph(name: str, source: HubGraph, data_dirs: list) -> TextGraph:
    """The graph `name`: built from a local folder in the publisher's layout (`<data dir>/<folder>/`), else from
    the files downloaded at the pinned revision; each build is kept in the cache (`built_path`, `local_built_path`)
    and read from there while its files are unchanged. A cached build that cannot be read is built again."""
    local = next((folder / source.folder for folder in data_dirs if has_files(folder / source.folder, source)), None)
    paths = {file: local / file for file in source.files} if local else None
    built = local_built_path(name, paths) if local else built_path(name, source)
    if os.path.lexists(built):
        try:
            return load_json(built)
        except GraphError as error:
            logger.warning(f"The cached build of graph {name!r} is damaged ({error}); building it again.")
            remove_entry(built)
    paths = paths or download(name, source, data_dirs)
    where = str(local) if local else f"{source.repo_id}@{source.revision[:7]}/{source.folder}"
    graph = build_graph(name, paths, where)
    built.parent.mkdir(parents=True, exist_ok=True)
    text = graph_json(graph)
    write_atomically(built, lambda f: f.write(text))
    return graph


def has_files(folder: Path, source: HubGraph) -> bool:
    """Whether `folder` holds each of the source's files (anything by that name: what is not a regular file is
    refused by name when read, never taken for a missing file)."""
    return all(os.path.lexists(folder / file) for file in source.files)


def download(name: str, source: HubGraph, data_dirs: list) -> dict:
    """The graph's files fetched into the Hub cache at the pinned revision, each checked against the Hub's record
    of it; a GraphError of one line saying where to get them and where to put them when that cannot be done."""
    from huggingface_hub import HfApi, hf_hub_download

    paths = [f"{source.folder}/{file}" for file in source.files]
    try:
        local = {
            Path(path).name: Path(hf_hub_download(source.repo_id, path, repo_type="dataset", revision=source.revision))
            for path in paths
        }
        records = HfApi().get_paths_info(source.repo_id, paths, revision=source.revision, repo_type="dataset")
    except Exception as error:  # offline, unreachable, or the file is gone: say where to get it
        offline = "; HF_HUB_OFFLINE=1" if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true") else ""
        raise GraphError(
            f"Graph {name!r} is not on this machine and could not be downloaded ({type(error).__name__}{offline}). "
            f"Download {', '.join(source.files)} from {source.url} and put them in {data_dirs[0] / source.folder}/ "
            f"(any of {', '.join(str(d) for d in data_dirs)} works)."
        ) from None
    for record in records:
        check_file(local[Path(record.path).name], record)
    return local


def check_file(path: Path, record) -> None:
    """Refuses a downloaded file whose content is not what the Hub records: the sha256 of an LFS file, else the
    git blob id (sha1 of `blob <size>\\0` and the bytes)."""
    data = path.read_bytes()
    if record.lfs is not None:
        expected, found, kind = record.lfs.sha256, hashlib.sha256(data).hexdigest(), "sha256"
    else:
        expected, kind = record.blob_id, "git blob id"
        found = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if found != expected:
        raise GraphError(f"{path}: {kind} {found} is not the {expected} that the Hub records for {record.path}")


def build_graph(name: str, paths: dict, where: str) -> TextGraph:
    """A TextGraph from the three files: texts, edges and labels; class names from categories.csv. Every labelled
    node is scored (the publisher's split masks are for training, which a zero-shot model does not do here). Faults
    name `where`: the local folder, or the publisher's repository, commit and folder."""
    data = load_pyg_file(paths["processed_data.pt"])
    texts = load_safely(paths["raw_texts.pt"])
    if not isinstance(texts, (list, tuple)):
        raise GraphError(f"{paths['raw_texts.pt']}: expected a list of node texts, got {type(texts).__name__}")
    labels = getattr(data, "y", None)
    edges = getattr(data, "edge_index", None)
    if labels is None or edges is None:
        raise GraphError(f"{paths['processed_data.pt']}: the Data object needs y and edge_index")
    return TextGraph(
        texts=list(texts),
        edge_index=edges,
        labels=node_labels(labels, len(texts), f"{where}/processed_data.pt"),
        label_names=read_categories(paths["categories.csv"]),
        name=name,
        source=where,
    )


def read_categories(path: Path) -> list:
    """The class names of categories.csv: its first column, after the header, a class per row."""
    check_regular_file(path)
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise GraphError(f"{path}: not a readable CSV file ({error})") from None
    header = rows[0][0].strip() if rows and rows[0] else ""
    if header.casefold() != "name":  # a file without its header would lose its first class, the others shifted
        raise GraphError(
            f"{path}: the first row is {header!r}, not the header 'name'; a class per row follows the header"
        )
    names = [row[0].strip() for row in rows[1:] if row and row[0].strip()]
    if not names:
        raise GraphError(f"{path}: no class names below the header")
    return names


def graph_json(graph: TextGraph) -> str:
    """A graph in the JSON format of docs/formats.md (edges as stored: both directions)."""
    import json

    return json.dumps(
        {
            "texts": graph.texts,
            "edges": graph.edge_index.T.tolist(),
            "labels": graph.labels.tolist(),
            "label_names": graph.label_names,
            "name": graph.name,
        }
    )
