"""The graphs ZeroG knows by name: their descriptions, label texts and where their files come from.

Kept as data: one entry per graph, no branches on names. An entry's `loader` builds the bare graph from
its name (by default `load_registered_file`, which finds one of the entry's `files`, else downloads the entry's
`hub` source: `zerog_graph.sources`); `load_graph` then adds the entry's description and label texts.
`load_graph` also accepts a file (`.json`, `.pt`, or a folder holding `nodes.csv` and `edges.csv`) or a PyG
`Data`.
"""

import dataclasses
import os
from pathlib import Path
from typing import Optional, Union

from checks_zerog import name_key

from .graph import GraphError, TextGraph
from .io import as_text_graph, load_csv, load_json, load_pt
from .paths import cache_dir
from .sources import HubGraph, load_hub_graph
from .wordnet import load_wordnet

ZEROG_DRIVE = "https://drive.google.com/drive/folders/1WfBIPA3dMd8qQZ6QlQRg9MIFGMwnPdFj"
ZEROG_DRIVE_AMAZON = "https://drive.google.com/drive/folders/1kifRUaZ9JzcjByj47FeANfXEeEZd4sJk"


def data_dirs() -> list:
    """Folders searched for graph files: `ZEROG_DATA` (os.pathsep-separated), ./data, the cache."""
    dirs = [Path(p) for p in os.environ.get("ZEROG_DATA", "").split(os.pathsep) if p]
    return dirs + [Path("data"), cache_dir() / "data"]


def find_file(filenames: list) -> Optional[Path]:
    for folder in data_dirs():
        for filename in filenames:
            if (folder / filename).exists():
                return folder / filename
    return None


def load_registered_file(name: str) -> TextGraph:
    """The graph file of registry entry `name`: the first of its `files` found in `data_dirs()`."""
    entry = GRAPHS[name]
    found = find_file(entry["files"])
    if found is None and "hub" in entry:
        return load_hub_graph(name, entry["hub"], data_dirs())
    if found is None:
        where = entry["url"] or "its publisher"
        raise GraphError(
            f"Graph {name!r} is not on this machine. Download {' or '.join(entry['files'])} from {where} "
            f"and put it in one of: {', '.join(str(d) for d in data_dirs())} (or set ZEROG_DATA)."
        )
    return load_file(found)


GRAPHS = {
    "cora": {
        "hub": HubGraph("cora"),
        "files": ["cora.json", "cora.pt"],
        "url": ZEROG_DRIVE,
        "description": "A citation network of machine learning papers. Each node is a paper with its "
        "title and abstract, each edge a citation, and each paper belongs to one subfield "
        "of machine learning.",
        "label_texts": {
            "Rule_Learning": "Rule learning: inducing symbolic if-then rules and decision lists from data.",
            "Neural_Networks": "Neural networks: connectionist models trained by backpropagation.",
            "Case_Based": "Case-based reasoning: solving problems by retrieving and adapting similar past cases.",
            "Genetic_Algorithms": "Genetic algorithms: evolutionary search with populations, mutation and crossover.",
            "Theory": "Learning theory: PAC learning, sample complexity and formal analysis of learning.",
            "Reinforcement_Learning": "Reinforcement learning: agents learning from rewards, such as Q-learning.",
            "Probabilistic_Methods": "Probabilistic methods: Bayesian networks, graphical models and inference.",
        },
    },
    "citeseer": {
        "hub": HubGraph("citeseer"),
        "files": ["citeseer.json", "citeseer.pt"],
        "url": ZEROG_DRIVE,
        "description": "A citation network of computer science papers from CiteSeer. Each node is a paper "
        "with its title and abstract, each edge a citation, and each paper belongs to one "
        "area of computer science.",
        "label_texts": {
            "Agents": "Agents: autonomous software agents and multi-agent systems.",
            "ML (Machine Learning)": "Machine learning: algorithms that learn models from data.",
            "IR (Information Retrieval)": (
                "Information retrieval: search, indexing and ranking of documents and web pages."
            ),
            "DB (Databases)": "Databases: database systems, query languages and data management.",
            "HCI (Human-Computer Interaction)": (
                "Human-computer interaction: user interfaces, usability and interaction design."
            ),
            "AI (Artificial Intelligence)": (
                "Artificial intelligence: knowledge representation, reasoning, planning and logic."
            ),
        },
    },
    "dblp": {
        "files": ["dblp4area.json", "dblp.json", "dblp.pt"],
        "url": None,
        "description": "A network of computer science papers from DBLP. Each node is a paper title, and "
        "two papers are linked when they share an author. Each paper belongs to one of "
        "four research areas.",
        "label_texts": {
            "Database": "Database systems: query processing, indexing, transactions and data management.",
            "Data Mining": "Data mining: discovering patterns, clusters and associations in large data.",
            "AI": "Artificial intelligence: reasoning, planning, knowledge representation and learning.",
            "Information Retrieval": "Information retrieval: search engines, ranking and text retrieval.",
        },
    },
    "pubmed": {
        "hub": HubGraph("pubmed"),
        "files": ["pubmed.pt"],
        "url": ZEROG_DRIVE,
        "description": "A citation network of biomedical papers about diabetes from PubMed. Each node is "
        "a paper with its title and abstract, each edge a citation.",
    },
    "arxiv": {
        "files": ["arxiv.pt"],
        "url": ZEROG_DRIVE,
        "description": "A citation network of computer science papers from arXiv (ogbn-arxiv). Each node "
        "is a paper with its title and abstract, each edge a citation, and each paper "
        "belongs to one arXiv computer science category.",
    },
    "wikics": {
        "hub": HubGraph("wikics"),
        "files": ["wikics.pt"],
        "url": ZEROG_DRIVE,
        "description": "A network of Wikipedia articles about computer science. Each node is an article, "
        "each edge a hyperlink, and each article belongs to one branch of computer science.",
    },
    "bookhis": {
        "hub": HubGraph("bookhis"),
        "files": ["bookhis.json", "bookhis.pt"],
        "url": None,
        "description": "A network of history books sold on Amazon. Each node is a book with its description, "
        "and books are linked when they are often bought or viewed together. Each book belongs to one "
        "category of history.",
    },
    "bookchild": {
        "hub": HubGraph("bookchild"),
        "files": ["bookchild.json", "bookchild.pt"],
        "url": None,
        "description": "A network of children's books sold on Amazon. Each node is a book with its description, "
        "and books are linked when they are often bought or viewed together. Each book belongs to one "
        "category of children's books.",
    },
    "sportsfit": {
        "hub": HubGraph("sportsfit"),
        "files": ["sportsfit.json", "sportsfit.pt"],
        "url": None,
        "description": "A network of sports and fitness products sold on Amazon. Each node is a product with its "
        "title, and products are linked when they are often bought or viewed together. Each product belongs to "
        "one category of sports and fitness.",
    },
    "home": {
        "files": ["home.pt"],
        "url": ZEROG_DRIVE_AMAZON,
        "description": "A network of Amazon home products. Each node is a product description, and "
        "products are linked when they are often bought or viewed together.",
    },
    "tech": {
        "files": ["tech.pt"],
        "url": ZEROG_DRIVE_AMAZON,
        "description": "A network of Amazon electronics products. Each node is a product description, and "
        "products are linked when they are often bought or viewed together.",
    },
    "reddit": {
        "files": ["reddit.pt"],
        "url": ZEROG_DRIVE,
        "description": "A social network of Reddit users. Each node is a user with the text of their "
        "posts, and users are linked when they reply to each other.",
    },
    "instagram": {
        "files": ["instagram.pt"],
        "url": ZEROG_DRIVE,
        "description": "A social network of Instagram users. Each node is a user with their profile text, "
        "and users are linked when they follow each other.",
    },
    "wordnet": {
        "loader": lambda name: load_wordnet(),
        "description": "WordNet, a lexical database of English. Each node is a noun sense with its "
        "synonyms and definition, each edge a semantic relation between senses "
        "(hypernymy, meronymy and others), and each sense belongs to one lexicographer "
        "category.",
    },
}


def load_file(path, label_names: Optional[list] = None) -> TextGraph:
    """A graph file by its form: `.json`, `.pt`, or a folder holding nodes.csv and edges.csv.

    `label_names` gives a CSV folder's classes; the other forms carry their own."""
    path = Path(path)
    if path.is_dir():
        return load_csv(path / "nodes.csv", path / "edges.csv", label_names=label_names)
    if label_names is not None:
        raise GraphError(f"{path}: class names can be given only for a CSV folder; this file has its own")
    if path.suffix == ".json":
        return load_json(path)
    if path.suffix == ".pt":
        return load_pt(path)
    raise GraphError(f"{path}: unknown graph format (expected .json, .pt, or a folder with nodes.csv and edges.csv)")


def with_registry_texts(graph: TextGraph, name: str, label_texts: bool = True) -> TextGraph:
    """Fills in the registry's description (and label texts, unless `label_texts=False`) where the
    file has none."""
    entry = GRAPHS[name]
    if not graph.description:
        graph.description = entry["description"]
    if label_texts and graph.label_texts is None and "label_texts" in entry:
        texts = {name_key(name): text for name, text in entry["label_texts"].items()}  # "Case Based" = "Case_Based"
        graph.label_texts = [texts.get(name_key(n), n.replace("_", " ")) for n in graph.label_names]
    graph.name = name
    return graph


def load_graph(
    name_or_path,
    label_texts: Union[bool, list] = True,
    label_names: Optional[list] = None,
    description: Optional[str] = None,
) -> TextGraph:
    """A graph by registry name (`cora`, `wordnet`, ...), by file path, or from a PyG `Data` (`from_pyg`).

    `label_names` gives the classes of a CSV folder (registry graphs and JSON or `.pt` files carry their own).
    `description` (the prompt node's text) and `label_texts` (a list of one text per class, in the order of the
    classes) replace the graph's own; `label_texts=True` fills in the registry's texts where a named graph has
    none, `False` keeps the class names. A graph whose node texts are all empty is refused: there is nothing to
    classify by."""
    own_texts = not isinstance(label_texts, bool)
    if isinstance(name_or_path, (str, os.PathLike)):
        graph = find_graph(os.fspath(name_or_path), False if own_texts else label_texts, label_names)
    elif label_names is not None:
        raise GraphError("label_names can be given only for a CSV folder; a Data object carries its own")
    else:
        graph = as_text_graph(name_or_path)
    given = {"label_texts": label_texts} if own_texts else {}
    if description is not None:
        given["description"] = description
    if given:  # built again, so that the new fields are checked as any graph's are
        graph = dataclasses.replace(graph, **given)
    if not any(text.strip() for text in graph.texts):
        raise GraphError(f"{graph.source}: every node text is empty or blank; there is nothing to classify by")
    return graph


def find_graph(name_or_path: str, label_texts: bool = True, label_names: Optional[list] = None) -> TextGraph:
    """`load_graph` without its checks across the nodes."""
    if os.path.lexists(name_or_path):
        return load_file(name_or_path, label_names)
    name = name_or_path.lower()
    if name not in GRAPHS:
        raise GraphError(f"{name_or_path!r} is neither a file nor a known graph ({', '.join(GRAPHS)})")
    if label_names is not None:
        raise GraphError(f"{name_or_path!r}: class names can be given only for a CSV folder; this graph has its own")
    loader = GRAPHS[name].get("loader", load_registered_file)
    return with_registry_texts(loader(name), name, label_texts)
