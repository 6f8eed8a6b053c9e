"""The dictionary validation graphs of bench/graphs.py, built from a few made-up dictd entries (no Debian
package needed)."""

import gzip
from pathlib import Path

import pytest

from bench import graphs

GCIDE_ENTRIES = [
    (
        ["Perch", "perches"],
        "Perch \\Perch\\, n. [F. perche.] (Zool.)\n   A fresh-water fish. See {Bass}.\n   [1913 Webster]\n",
    ),
    (["Bass"], "Bass \\Bass\\, n. (Zool.)\n   A spiny fish; compare {Perch} and {perches}.\n   [1913 Webster]\n"),
    (["Oak"], "Oak \\Oak\\, n. (Bot.)\n   A tree of the genus {Quercus}. --Milton.\n   [1913 Webster]\n"),
    (["Quercus"], "Quercus \\Quercus\\, n. (Bot.) (Zool.)\n   The genus of the {oak}; also a beetle.\n"),
    (["Tort"], "Tort \\Tort\\, n. (Law)\n   A wrong, not a crime. See {Nowhere}.\n"),
    (["Fish"], "Fish \\Fish\\, n.\n   An animal living in water, as the {perch} or {bass}.\n"),
]
JARGON_ENTRIES = [
    (["bogus"], "bogus\n adj.\n\n    [WPI] Non-functional; see {cruft}.\n\n"),
    (["cruft"], "cruft\n /kruhft/, n.\n\n    Excess code; compare {bogus} and {kluge}.\n\n"),
    (["kluge"], "kluge\n /klooj/, n.,vt.\n\n    A clever hack; also {cruft}.\n\n"),
    (["frob"], "frob\n vt.\n\n    To fiddle with; see {kluge}.\n\n"),
    (["ack"], "ack\n interj.\n\n    Acknowledge.\n\n"),
]


def write_dictd(folder: Path, name: str, entries: list, compress: bool = True) -> Path:
    """`name.dict(.dz)` and `name.index` in dictd's format: one index line per headword, offsets in base64."""
    data, index = b"", ["00-database-short\tA\tB"]
    data = b"header\n"
    for headwords, text in entries:
        raw = text.encode("utf-8")
        for headword in headwords:
            index.append(f"{headword}\t{base64(len(data))}\t{base64(len(raw))}")
        data += raw
    dict_path = folder / (f"{name}.dict.dz" if compress else f"{name}.dict")
    dict_path.write_bytes(gzip.compress(data) if compress else data)
    (folder / f"{name}.index").write_text("\n".join(index) + "\n", encoding="utf-8")
    return folder


def base64(value: int) -> str:
    digits = ""
    while True:
        digits = graphs.BASE64[value % 64] + digits
        value //= 64
        if not value:
            return digits


def test_read_dictd_splits_blocks_and_groups_headwords(tmp_path):
    for compress in (True, False):
        write_dictd(tmp_path, "gcide", GCIDE_ENTRIES, compress)
        suffix = ".dict.dz" if compress else ".dict"
        entries = graphs.read_dictd(tmp_path / f"gcide{suffix}", tmp_path / "gcide.index")
        assert entries == GCIDE_ENTRIES
        (tmp_path / f"gcide{suffix}").unlink()


def test_gcide_graph_labels_one_field_links_references_and_hides_tags(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    write_dictd(tmp_path, "gcide", GCIDE_ENTRIES)
    graph = graphs.gcide_json(tmp_path / "gcide.dict.dz", tmp_path / "gcide.index", labelled=3, max_nodes=5)
    heads = [text.split(":")[0] for text in graph["texts"]]
    # Labelled with one field and linked: Perch, Bass, Oak (Quercus names two fields; Tort links to nothing);
    # then the unlabelled entry most of them link to: Fish.
    assert heads == ["Perch", "Bass", "Oak", "Quercus", "Fish"]
    names = graph["label_names"]
    assert [names[label] if label >= 0 else None for label in graph["labels"]] == [
        "zoology",
        "zoology",
        "botany",
        None,
        None,
    ]
    edges = {tuple(edge) for edge in graph["edges"]}
    assert edges == {(0, 1), (2, 3), (0, 4), (1, 4)}  # {perches} is Perch itself: no self-loop
    for text in graph["texts"]:
        assert "(Zool.)" not in text and "(Bot.)" not in text and "[" not in text and "{" not in text
        assert "Milton" not in text and "\\" not in text
    assert graph["texts"][0] == "Perch: , n. A fresh-water fish. See Bass."


def test_jargon_graph_labels_the_part_of_speech_and_cuts_it_from_the_text(tmp_path, monkeypatch):
    write_dictd(tmp_path, "jargon", JARGON_ENTRIES)
    graph = graphs.jargon_json(tmp_path / "jargon.dict.dz", tmp_path / "jargon.index", per_class=1)
    names = graph["label_names"]
    assert [names[label] if label >= 0 else None for label in graph["labels"]] == [
        "adjective",
        "noun",
        None,  # n.,vt.: two parts of speech
        "verb",
        None,  # interjections are not a class
    ]
    # Scored: one entry of each class, so that one class everywhere would score 1/3.
    assert graph["test_mask"] == [True, True, False, True, False]
    assert graph["texts"][0] == "bogus: Non-functional; see cruft."
    assert graph["texts"][1] == "cruft: Excess code; compare bogus and kluge."
    assert {tuple(edge) for edge in graph["edges"]} == {(0, 1), (1, 2), (2, 3)}


def test_build_writes_the_cache_and_loads_as_a_text_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZEROG_DICTD", str(write_dictd(tmp_path, "jargon", JARGON_ENTRIES)))
    graph = graphs.dictionary_graph("jargon")
    assert (tmp_path / "cache" / "data" / "jargon.json").exists()
    assert graph.num_nodes == 5 and graph.num_classes == 3 and graph.name == "jargon"
    assert int(graph.eval_mask.sum()) == 3
    assert graph.edge_index.size(1) == 6  # three edges, both ways
    with pytest.raises(FileNotFoundError, match="dict-gcide"):
        graphs.build("gcide", tmp_path / "nowhere")
