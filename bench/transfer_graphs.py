"""The graphs of the transfer benchmark that are not plain registry graphs.

- `wordnet_sample`: SmolLM2 encodes about 25 texts/s on 2 cores, so for it (and only it) WordNet
  nouns is one fixed induced subgraph of 10,000 nodes (`sampling.snowball_sample`, seed 0).
- `wordnet_verbs`: the 13,767 verb senses of WordNet in their 15 lexicographer classes. It is the
  validation graph on which training recipes are compared: it is never a target, so no target's
  labels choose a setting.
"""

import os
import platform
from pathlib import Path

os.environ.setdefault("ZEROG_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

import torch  # noqa: E402

from zerog_graph.graph import TextGraph  # noqa: E402
from zerog_graph.registry import load_graph  # noqa: E402
from zerog_graph.sampling import snowball_sample  # noqa: E402
from zerog_graph.wordnet import find_wordnet_dir, parse_data_noun  # noqa: E402

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


def wordnet_sample() -> TextGraph:
    """WordNet nouns cut to the fixed 10,000-node snowball sample (seed 0)."""
    graph = snowball_sample(load_graph("wordnet"), WORDNET_SAMPLE_NODES, WORDNET_SAMPLE_SEED)
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


def machine() -> str:
    """The CPU, its core count and its bf16 support, to print with every figure."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), "")
    kind = "AMX" if "amx_tile" in flags else "AVX512-BF16, no AMX" if "avx512_bf16" in flags else "no bf16"
    return f"{model or platform.machine()}, {os.cpu_count()} cores, {kind}"
