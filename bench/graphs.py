"""The graphs of the benchmarks and studies that are not plain registry graphs, and `bench_graph`, which finds any of
them (or a registry graph) by name. None is a target of the reported tables: they are validation graphs, on which
settings are chosen, and one fixed sample.

Dictionaries whose entries cross-reference each other, from Debian's dictd packages (`apt-get install dict-gcide
dict-jargon`), which put `NAME.dict.dz` (gzip text) and `NAME.index` (headword, base64 offset, base64 length) in
`/usr/share/dictd`. A node is one entry (one indexed block of text), an edge a `{word}` cross-reference to another
entry, and the labels are what the dictionary itself writes in each entry:

- `gcide`: the GNU Collaborative International Dictionary of English (Webster 1913 and later). Label:
  the entry's subject field, written as `(Zool.)`, `(Bot.)`, `(Law)`... (`GCIDE_FIELDS`, the ten
  commonest fields but Biol., which overlaps Zool. and Bot.); only entries naming exactly one of them
  are labelled, and the tags are cut from the node texts. The graph is `GCIDE_LABELLED` labelled
  entries with at least one cross-reference, drawn at random (seed 0), plus the entries most of them
  are linked to, up to `GCIDE_NODES` nodes (hubs such as "Abies concolor" or "Cross", up to 52 links).
  Most of GCIDE's `{word}` marks point inside the same entry, so it is sparser than `jargon`.
- `jargon`: the Jargon File 4.4.7 (hacker slang), all entries. Label: the part of speech written under
  the headword (`n.`, `vt.`, `adj.`...), grouped into `JARGON_CLASSES`; entries with none or several
  are unlabelled. Three labelled entries in four are nouns, so predicting "noun" everywhere (what an over-smoothed
  graph does) would score well: the graph is scored on a class-balanced sample instead (`test_mask`:
  `JARGON_SCORED` entries of each class, seed 0), where one class everywhere scores 1/3.

Each is built once and written to `cache_dir()/data/NAME.json` (the registry's JSON format), then read from
there. `ZEROG_DICTD` overrides `/usr/share/dictd`. `python bench/graphs.py [gcide] [jargon]` builds them.

WordNet, for the transfer benchmark and the studies:

- `wordnet10k` (`wordnet_sample`): SmolLM2 encodes about 25 texts/s on 2 cores, so for it (and only it)
  WordNet nouns is one fixed induced subgraph of 10,000 nodes (`sampling.snowball_sample`, seed 0).
- `wordnet-verbs` (`wordnet_verbs`): the 13,767 verb senses of WordNet in their 15 lexicographer classes. It
  is the validation graph on which training recipes are compared: it is never a target, so no target's
  labels choose a setting.

Registry graphs are read from `ZEROG_DATA`, which defaults to the `shared/data` folder beside the checkout
(`use_shared_data`).
"""

import gzip
import json
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

import torch

from zerog_graph.graph import TextGraph
from zerog_graph.io import load_json
from zerog_graph.paths import cache_dir
from zerog_graph.registry import load_graph
from zerog_graph.sampling import snowball_sample
from zerog_graph.wordnet import find_wordnet_dir, parse_data_noun

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAX_TEXT_CHARS = 600
GCIDE_LABELLED, GCIDE_NODES, GCIDE_SEED = 6000, 12000, 0
GCIDE_FIELDS = {
    "Zool.": ("zoology", "Zoology: animals, their kinds, anatomy and habits."),
    "Bot.": ("botany", "Botany: plants, their kinds, parts and growth."),
    "Chem.": ("chemistry", "Chemistry: elements, compounds, acids and chemical reactions."),
    "Med.": ("medicine", "Medicine: diseases, symptoms, remedies and treatment."),
    "Anat.": ("anatomy", "Anatomy: the parts and structure of the human or animal body."),
    "Law": ("law", "Law: legal terms, rights, courts, contracts and property."),
    "Naut.": ("nautical", "Nautical: ships, sailing, rigging and seamanship."),
    "Min.": ("mineralogy", "Mineralogy: minerals, crystals and ores."),
    "Mus.": ("music", "Music: musical notes, instruments, harmony and performance."),
    "Arch.": ("architecture", "Architecture: buildings, their parts and ornaments."),
}
JARGON_CLASSES = {
    "noun": (("n.", "pl.n.", "n"), "A noun: the name of a thing, a person, a program or an idea."),
    "verb": (("v.", "vt.", "vi."), "A verb: an action, something that one does to or with something."),
    "adjective": (("adj.", "adj"), "An adjective: a word that describes a quality of something."),
}
JARGON_SCORED, JARGON_SEED = 180, 0
FIELD_TAG = re.compile(r"\((?:[A-Z][A-Za-z]*\.?)(?: [A-Z][A-Za-z]*\.?){0,2}\)")
CROSS_REFERENCE = re.compile(r"\{([^{}]+)\}")


def dictd_dir() -> Path:
    return Path(os.environ.get("ZEROG_DICTD", "/usr/share/dictd"))


def base64_number(digits: str) -> int:
    value = 0
    for digit in digits:
        value = value * 64 + BASE64.index(digit)
    return value


def read_dictd(dict_path, index_path) -> list:
    """`[(headwords, text)]`, one per indexed block in file order; `00-database-*` blocks are skipped."""
    opener = gzip.open if str(dict_path).endswith(".dz") else open
    with opener(dict_path, "rb") as f:
        data = f.read()
    blocks = {}
    for line in Path(index_path).read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")
        if not headword.startswith("00-database") and not headword.startswith("00database"):
            blocks.setdefault((base64_number(offset), base64_number(length)), []).append(headword)
    return [
        (headwords, data[offset : offset + length].decode("utf-8", "replace"))
        for (offset, length), headwords in sorted(blocks.items())
    ]


def key(word: str) -> str:
    return " ".join(word.lower().split())


def link(entries: list) -> list:
    """Undirected edges `(i, j)`, i < j, from each entry's `{word}` to the first entry indexed under it."""
    first = {}
    for i, (headwords, _) in enumerate(entries):
        for headword in headwords:
            first.setdefault(key(headword), i)
    edges = set()
    for i, (_, text) in enumerate(entries):
        for word in CROSS_REFERENCE.findall(text):
            j = first.get(key(word))
            if j is not None and j != i:
                edges.add((min(i, j), max(i, j)))
    return sorted(edges)


def node_text(headword: str, body: str) -> str:
    """`headword: definition`, without pronunciations, bracketed etymologies and sources, quotation
    authors, subject-field tags or braces, cut to `MAX_TEXT_CHARS`."""
    body = re.sub(r"\\[^\\\n]*\\", " ", body)  # GCIDE pronunciation \Af*fect"\
    brackets = 1
    while brackets:  # [1913 Webster], [L. affectus], [Usenet]; GCIDE nests [a^] inside etymologies
        body, brackets = re.subn(r"\[[^\[\]]*\]", " ", body)
    body = re.sub(r"--[A-Z][\w.' ]*", " ", body)  # --Milton.
    body = FIELD_TAG.sub(" ", body).replace("{", "").replace("}", "")
    return f"{headword}: {' '.join(body.split())}"[:MAX_TEXT_CHARS]


def gcide_json(dict_path, index_path, labelled=GCIDE_LABELLED, max_nodes=GCIDE_NODES, seed=GCIDE_SEED) -> dict:
    """The `gcide` graph (module docstring) as a registry JSON object."""
    entries = read_dictd(dict_path, index_path)
    names = list(GCIDE_FIELDS)
    labels = []
    for _, text in entries:
        fields = {tag[1:-1] for tag in FIELD_TAG.findall(text)} & set(names)
        labels.append(names.index(fields.pop()) if len(fields) == 1 else -1)
    edges = link(entries)
    linked = {i for edge in edges for i in edge}
    candidates = [i for i, label in enumerate(labels) if label >= 0 and i in linked]
    chosen = set(random.Random(seed).sample(candidates, min(labelled, len(candidates))))
    reach = Counter()
    for i, j in edges:
        if i in chosen and j not in chosen:
            reach[j] += 1
        if j in chosen and i not in chosen:
            reach[i] += 1
    hubs = sorted(reach, key=lambda j: (-reach[j], j))[: max(0, max_nodes - len(chosen))]
    nodes = sorted(chosen | set(hubs))
    return dictionary_json(
        entries,
        nodes,
        [labels[i] for i in nodes],
        edges,
        name="gcide",
        label_names=[GCIDE_FIELDS[n][0] for n in names],
        label_texts=[GCIDE_FIELDS[n][1] for n in names],
        description="GCIDE, a dictionary of English (Webster 1913). Each node is a dictionary entry with its "
        "definition, each edge a cross-reference from one entry to another, and each entry belongs to "
        "one subject field such as zoology, botany, law or music.",
    )


def jargon_labels(text: str) -> int:
    """The `JARGON_CLASSES` index of an entry's part of speech (the line under its headword), or -1."""
    lines = text.split("\n")
    grammar = lines[1] if len(lines) > 1 else ""
    grammar = re.sub(r"/[^/]*/", " ", grammar).replace(",", " ").split()
    found = {c for c, (marks, _) in enumerate(JARGON_CLASSES.values()) for g in grammar if g in marks}
    return found.pop() if len(found) == 1 and len(grammar) == 1 else -1


def jargon_json(dict_path, index_path, per_class=JARGON_SCORED, seed=JARGON_SEED) -> dict:
    """The `jargon` graph (module docstring) as a registry JSON object."""
    entries = read_dictd(dict_path, index_path)
    keep = [i for i, (_, text) in enumerate(entries) if len(text.split("\n")) > 2]
    labels = [jargon_labels(entries[i][1]) for i in keep]
    rng, scored = random.Random(seed), []
    for label in range(len(JARGON_CLASSES)):
        members = [n for n, node_label in enumerate(labels) if node_label == label]
        scored += rng.sample(members, min(per_class, len(members)))
    scored = set(scored)
    return dictionary_json(
        entries,
        keep,
        labels,
        link(entries),
        test_mask=[n in scored for n in range(len(keep))],
        name="jargon",
        label_names=list(JARGON_CLASSES),
        label_texts=[text for _, text in JARGON_CLASSES.values()],
        description="The Jargon File, a glossary of hacker slang. Each node is an entry with its definition, "
        "each edge a cross-reference from one entry to another, and each entry is one part of speech: "
        "a noun, a verb or an adjective.",
    )


def dictionary_json(entries, nodes, labels, edges, **fields) -> dict:
    """A registry JSON object for `entries[nodes]`: texts without the headword line, edges among them."""
    position = {i: n for n, i in enumerate(nodes)}
    texts = []
    for i in nodes:
        headwords, text = entries[i]
        first, _, body = text.partition("\n")
        body = first[len(headwords[0]) :] + "\n" + body if first.startswith(headwords[0]) else body
        if fields["name"] == "jargon":
            body = body.split("\n", 2)[-1]  # the part-of-speech line is the label
        texts.append(node_text(headwords[0], body))
    kept = [[position[i], position[j]] for i, j in edges if i in position and j in position]
    return dict(fields, texts=texts, edges=kept, labels=labels, source=f"dictd {fields['name']}")


BUILDERS = {"gcide": gcide_json, "jargon": jargon_json}


def build(name: str, folder=None) -> Path:
    """Writes `cache_dir()/data/NAME.json` from the dictd files of `name` (in `folder`, default `dictd_dir()`)."""
    folder = Path(folder) if folder is not None else dictd_dir()
    dict_path = folder / f"{name}.dict.dz"
    if not dict_path.exists():
        dict_path = folder / f"{name}.dict"
    if not dict_path.exists():
        raise FileNotFoundError(f"{folder / name}.dict.dz not found: apt-get install dict-{name} (or set ZEROG_DICTD)")
    graph = BUILDERS[name](dict_path, folder / f"{name}.index")
    out = cache_dir() / "data" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(graph, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    return out


def dictionary_graph(name: str) -> TextGraph:
    """The `gcide` or `jargon` graph, built into the cache the first time."""
    path = cache_dir() / "data" / f"{name}.json"
    if not path.exists():
        build(name)
    return load_json(path)


WORDNET_SAMPLE_NODES, WORDNET_SAMPLE_SEED = 10_000, 0
FIRST_VERB_LEXFILE = 29
VERB_LEXNAMES = {
    "body": "verbs of grooming, dressing and bodily care",
    "change": "verbs of size, temperature change, intensifying",
    "cognition": "verbs of thinking, judging, analyzing, doubting",
    "communication": "verbs of telling, asking, ordering, singing",
    "competition": "verbs of fighting, athletic activities",
    "consumption": "verbs of eating and drinking",
    "contact": "verbs of touching, hitting, tying, digging",
    "creation": "verbs of sewing, baking, painting, performing",
    "emotion": "verbs of feeling",
    "motion": "verbs of walking, flying, swimming",
    "perception": "verbs of seeing, hearing, feeling",
    "possession": "verbs of buying, selling, owning",
    "social": "verbs of political and social activities and events",
    "stative": "verbs of being, having, spatial relations",
    "weather": "verbs of raining, snowing, thawing, thundering",
}


def use_shared_data() -> None:
    """Registry graphs are looked for in `SHARED_DATA` unless `ZEROG_DATA` is set; called when a graph is loaded
    (or by a script, `bench/transfer.py`, whose training loads them), never on import."""
    os.environ.setdefault("ZEROG_DATA", str(SHARED_DATA))


def wordnet_sample() -> TextGraph:
    """WordNet nouns cut to the fixed 10,000-node snowball sample (seed 0)."""
    graph = snowball_sample(bench_graph("wordnet"), WORDNET_SAMPLE_NODES, WORDNET_SAMPLE_SEED)
    graph.name = "wordnet10k"
    return graph


def wordnet_verbs() -> TextGraph:
    """WordNet's verb senses ("lemmas: gloss"), verb-verb relations as edges, 15 lexicographer classes."""
    path = find_wordnet_dir() / "data.verb"
    offsets, texts, labels, edges = parse_data_noun(path, part_of_speech="v", first_lexfile=FIRST_VERB_LEXFILE)
    index = {offset: i for i, offset in enumerate(offsets)}
    pairs = [(index[s], index[t]) for s, t in edges if s in index and t in index and s != t]
    return TextGraph(
        texts=texts,
        edge_index=torch.tensor(pairs, dtype=torch.long).T,
        labels=torch.tensor(labels),
        label_names=list(VERB_LEXNAMES),
        description="WordNet verbs, a lexical database of English. Each node is a verb sense with its synonyms "
        "and definition, each edge a semantic relation between senses (hypernymy, entailment, cause and "
        "others), and each sense belongs to one lexicographer category.",
        label_texts=[f"{name}: {text}" for name, text in VERB_LEXNAMES.items()],
        name="wordnet-verbs",
        source=str(path),
    )


def bench_graph(name: str) -> TextGraph:
    """A dictionary graph (`gcide`, `jargon`), `wordnet10k`, `wordnet-verbs`, or else a registry graph."""
    if name == "wordnet10k":
        return wordnet_sample()
    if name == "wordnet-verbs":
        return wordnet_verbs()
    if name in BUILDERS:
        return dictionary_graph(name)
    use_shared_data()
    return load_graph(name)


if __name__ == "__main__":
    for graph_name in sys.argv[1:] or list(BUILDERS):
        graph = dictionary_graph(graph_name)
        counts = Counter(graph.labels.tolist())
        degree = graph.edge_index[0].bincount(minlength=graph.num_nodes)
        print(
            f"{graph_name}: {graph.num_nodes} nodes, {graph.edge_index.size(1) // 2} edges, "
            f"{int((graph.labels >= 0).sum())} labelled, max degree {int(degree.max())}, "
            f"classes {[counts[c] for c in range(graph.num_classes)]}"
        )
