"""Templates per kind of text with graph fields ({labels}, {description}), echo, the pooled layer and the label
statistics: in the config, the tokenizer, the model, the cache key, the collator, the CLI and train_hf."""

import json

import pytest
import torch
import torch.nn.functional as F

from configuration_zerog import PROMPTEOL_TEMPLATE, TEMPLATES, ZeroGConfig, fill_template, template_settings
from propagation_zerog import standardize, zerog_logits
from tokenization_zerog import load_tokenizer, tokenize_texts
from zerog_graph.cache import EmbeddingCache
from zerog_graph.collator import ZeroGCollator
from zerog_graph.evaluate import embed_graph, evaluate_graph
from zerog_graph.graph import TextGraph

TASK = 'Categories: {labels}.\nText: "{text}"\nThe category of this text in one word:"'
ECHO = 'Text: "{text}"\nAgain: "{text}"\nCategories: {labels}.\nIts category:"'


def small_graph(label_names=("databases", "biology"), description="Papers and their citations.") -> TextGraph:
    texts = ["Query optimisation for relational databases.", "Protein folding in cells.", "Indexes on tables."]
    return TextGraph(
        name="small",
        texts=texts,
        edge_index=torch.tensor([[0, 2], [2, 0]]),
        labels=torch.tensor([0, 1, 0]),
        label_names=list(label_names),
        label_texts=[f"{name} papers" for name in label_names],
        description=description,
    )


# --- config ------------------------------------------------------------------------------------


def test_a_named_template_sets_all_three_kinds_and_a_string_one_applies_to_all():
    config = ZeroGConfig(template="prompteol")
    assert config.templates == TEMPLATES["prompteol"]
    task = ZeroGConfig(template="task").templates
    assert task.node == task.label == task.description and "{labels}" in task.node
    assert ZeroGConfig(template=TASK, label_template="{text}").templates == (TASK, "{text}", TASK)
    assert template_settings("") == {"template": None, "label_template": None, "description_template": None}
    assert template_settings(TASK)["label_template"] == TASK
    reloaded = ZeroGConfig.from_dict(ZeroGConfig(template=TASK, hidden_layer=3, label_statistics="nodes").to_dict())
    assert (reloaded.template, reloaded.hidden_layer, reloaded.label_statistics) == (TASK, 3, "nodes")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"template": "{labels} only"}, "template must contain"),
        ({"label_template": "{text} {text} {text}"}, "label_template must contain"),
        ({"description_template": "no slot"}, "description_template must contain"),
        ({"label_statistics": "both"}, "label_statistics='both'"),
        ({"hidden_layer": 10_000}, "hidden_layer must be in"),
        ({"hidden_layer": 1.5}, "field 'hidden_layer' must be int"),
    ],
)
def test_bad_template_settings_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ZeroGConfig(**kwargs)


def test_fill_template_fills_graph_fields_and_keeps_braces_in_names_as_text():
    pieces = fill_template(TASK, ["a", "{text}", "{description}"], "D")
    assert pieces == ('Categories: a, {text}, {description}.\nText: "', '"\nThe category of this text in one word:"')
    assert fill_template(None) is None
    with pytest.raises(ValueError, match=r"uses \{labels\}: pass the graph's labels"):
        fill_template(TASK)


# --- tokenizer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [TASK, ECHO])
def test_a_cut_text_keeps_the_question_and_the_answer_slot(minilm_path, template):
    """A text longer than max_length is cut inside each of its slots; the filled labels before it and the
    answer slot after it keep all their tokens; with two slots both copies are the same cut text."""
    tokenizer = load_tokenizer(minilm_path, is_decoder=False)
    pieces = fill_template(template, ["databases", "biology"])
    long_text = "Relational databases answer queries with indexes. " * 300
    piece_ids = [tokenizer(piece, add_special_tokens=False)["input_ids"] for piece in pieces]
    text_ids = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    head, tail = [tokenizer.cls_token_id], [tokenizer.sep_token_id]
    for max_length in (48, 128):
        cut, short = tokenize_texts(tokenizer, [long_text, "Short."], pieces, max_length, padding=False)["input_ids"]
        room = (max_length - 2 - sum(map(len, piece_ids))) // (len(pieces) - 1)
        expected = head + piece_ids[0]
        for piece in piece_ids[1:]:
            expected += text_ids[:room] + piece
        assert cut == expected + tail and len(cut) <= max_length
        assert short == tokenizer("Short.".join(pieces))["input_ids"]


# --- model and cache ---------------------------------------------------------------------------


def test_a_labels_template_changes_the_embeddings_and_the_cache_key(minilm, tmp_path, monkeypatch):
    graph, renamed = small_graph(), small_graph(("databases", "zoology"))
    cache = EmbeddingCache(tmp_path)
    monkeypatch.setattr(minilm.config, "template", TASK)
    first = embed_graph(minilm, graph, cache)
    second = embed_graph(minilm, renamed, cache)
    assert not torch.allclose(first.nodes, second.nodes, atol=1e-4)  # the class names are in every node's prompt
    direct = minilm.encode(graph.texts, labels=graph.label_names)
    assert torch.allclose(first.nodes, direct, atol=1e-5)
    entries = {path.name for path in tmp_path.glob("*/*")}
    assert len(entries) == 4  # nodes and (description + labels) for each graph: none shared
    monkeypatch.setattr(minilm.config, "template", PROMPTEOL_TEMPLATE)
    assert not torch.allclose(embed_graph(minilm, graph, cache).nodes, first.nodes, atol=1e-4)
    with pytest.raises(ValueError, match=r"uses \{labels\}"):
        monkeypatch.setattr(minilm.config, "template", TASK)
        minilm.encode(graph.texts)


def test_each_kind_of_text_gets_its_own_template(minilm, tmp_path, monkeypatch):
    graph = small_graph()
    monkeypatch.setattr(minilm.config, "template", TASK)
    monkeypatch.setattr(minilm.config, "label_template", "{text}")
    embeds = embed_graph(minilm, graph, EmbeddingCache(tmp_path))
    assert torch.allclose(embeds.labels, minilm.encode(graph.class_texts, kind="label"), atol=1e-5)
    bare = minilm.encode(graph.class_texts, kind="node", labels=graph.label_names)
    assert not torch.allclose(embeds.labels, bare, atol=1e-4)
    prompt = minilm.encode([graph.description], kind="description", labels=graph.label_names)
    assert torch.allclose(embeds.description, prompt, atol=1e-5)


def test_hidden_layer_pools_that_layer_and_is_part_of_the_key(minilm, tmp_path, monkeypatch):
    tokens = minilm.tokenizer(["Protein folding in cells."], return_tensors="pt")
    with torch.no_grad():
        layer_two = minilm.lm(**tokens, output_hidden_states=True).hidden_states[2]
    monkeypatch.setattr(minilm.config, "hidden_layer", 2)
    expected = minilm.pooling(layer_two, tokens["attention_mask"])
    assert torch.allclose(minilm.encode(["Protein folding in cells."]), expected, atol=1e-5)
    cache = EmbeddingCache(tmp_path)
    embed_graph(minilm, small_graph(), cache)
    monkeypatch.setattr(minilm.config, "hidden_layer", -1)
    embed_graph(minilm, small_graph(), cache)
    assert len(list(tmp_path.iterdir())) == 2  # two fingerprints


def test_a_hidden_layer_the_backbone_lacks_is_refused(minilm_path):
    from zerog_graph.models import load_model

    with pytest.raises(ValueError, match=r"hidden_layer=7, but backbone .* has 6 layers"):
        load_model(minilm_path, hidden_layer=7)


# --- label statistics --------------------------------------------------------------------------


def test_node_statistics_do_not_mirror_two_labels():
    """ZeroG's own-statistics rule makes two label vectors exact opposites; the nodes' statistics do not."""
    torch.manual_seed(0)
    nodes, prompt, labels = torch.randn(30, 8), torch.randn(1, 8), torch.randn(2, 8) + 3
    own = standardize(labels)
    assert torch.allclose(F.normalize(own[0], dim=0), -F.normalize(own[1], dim=0), atol=1e-5)
    edges = torch.tensor([[0, 1], [1, 0]])
    for rounds in (0, 2):
        cosine = zerog_logits(nodes, prompt, labels, edges, rounds, label_statistics="nodes")
        dot = zerog_logits(nodes, prompt, labels, edges, rounds, cosine=False, label_statistics="nodes")
        assert torch.equal(cosine.argmax(-1), dot.argmax(-1))
        mirrored = zerog_logits(nodes, prompt, labels, edges, rounds, label_statistics="labels")
        assert torch.allclose(mirrored[:, 0], -mirrored[:, 1], atol=1e-5)
        assert not torch.allclose(cosine[:, 0], -cosine[:, 1], atol=1e-2)


def test_label_statistics_reach_the_evaluation_and_its_settings(minilm, tmp_path, monkeypatch):
    texts = [
        "Query optimisation for relational databases.",
        "Protein folding in cells.",
        "Indexes on tables.",
        "Gene expression in yeast.",
        "Transactions and locking in a database server.",
        "The immune response of mice to a virus.",
        "SQL joins over large tables.",
        "Enzymes that break down sugar.",
    ]
    edges = torch.tensor([[0, 2, 4, 1, 3, 5], [2, 4, 6, 3, 5, 7]])
    labels = torch.tensor([0, 1] * 4)
    graph = TextGraph(texts, edges, labels, ["databases", "biology"], "Papers and their citations.")
    cache = EmbeddingCache(tmp_path)
    own = evaluate_graph(minilm, graph, num_rounds=1, cache=cache, with_cosines=True)
    nodes = evaluate_graph(minilm, graph, num_rounds=1, cache=cache, with_cosines=True, label_statistics="nodes")
    assert (own.settings["label_statistics"], nodes.settings["label_statistics"]) == ("labels", "nodes")
    assert torch.allclose(own.cosines[:, 0], -own.cosines[:, 1], atol=1e-4)  # two classes: mirrored
    assert not torch.allclose(nodes.cosines[:, 0], -nodes.cosines[:, 1], atol=1e-2)
    fast = evaluate_graph(minilm, graph, num_rounds=1, cache=cache, label_statistics="nodes")
    assert torch.equal(fast.logits.argmax(-1), nodes.cosines.argmax(-1))


# --- training and command lines ----------------------------------------------------------------


def test_the_collator_fills_each_subgraph_with_its_own_graph(minilm):
    from configuration_zerog import Templates

    def item(names):
        graph = small_graph(names)
        return {
            "texts": graph.texts[:2],
            "edge_index": torch.tensor([[0], [1]]),
            "labels": torch.tensor([0, 1]),
            "class_texts": graph.class_texts,
            "class_names": graph.label_names,
            "description": graph.description,
        }

    collate = ZeroGCollator(minilm.tokenizer, Templates(TASK, "{text}", TASK), 64)
    batch = collate([item(("databases", "biology")), item(("history", "music"))])
    first, second = (minilm.tokenizer.decode(ids, skip_special_tokens=True) for ids in batch["input_ids"][[0, 2]])
    assert "databases, biology" in first and "history, music" in second
    labels = [minilm.tokenizer.decode(ids, skip_special_tokens=True) for ids in batch["label_input_ids"]]
    assert labels[0] == "databases papers" and labels[3] == "music papers"
    prompt = minilm.tokenizer.decode(batch["prompt_input_ids"][1], skip_special_tokens=True)
    assert "history, music" in prompt and "papers and their citations" in prompt


def test_the_cli_takes_named_templates_and_the_new_options(minilm_path, tmp_path, capsys):
    from zerog_graph.cli import main

    folder = tmp_path / "graph"
    folder.mkdir()
    (folder / "nodes.csv").write_text("id,text,label\n0,Query optimisation,db\n1,Protein folding,bio\n2,Indexes,db\n")
    (folder / "edges.csv").write_text("source,target\n0,2\n")
    output = tmp_path / "out.json"
    args = ["eval", "--model", minilm_path, "--graph", str(folder), "--output", str(output)]
    code = main(args + ["--template", "prompteol", "--hidden-layer", "3", "--label-statistics", "nodes"])
    assert code == 0, capsys.readouterr().err
    settings = next(iter(json.loads(output.read_text()).values()))["settings"]
    assert settings["template"] == PROMPTEOL_TEMPLATE and settings["label_template"] == PROMPTEOL_TEMPLATE
    assert (settings["hidden_layer"], settings["label_statistics"]) == (3, "nodes")
    assert main(args + ["--overwrite", "--hidden-layer", "9"]) == 2
    assert "hidden_layer=9, but backbone" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--template", "{labels} but no text"]) == 2
    assert "template must contain '{text}'" in capsys.readouterr().err


def test_train_hf_passes_the_new_settings(minilm_path, tmp_path):
    from transformers import HfArgumentParser, TrainingArguments

    from train_hf import DataArguments, ModelArguments, build_training_model

    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(
        [
            "--model_name_or_path",
            minilm_path,
            "--source_graphs",
            "cora",
            "--output_dir",
            str(tmp_path),
            "--template",
            TASK,
            "--hidden_layer",
            "4",
            "--label_statistics",
            "nodes",
        ]
    )
    model = build_training_model(model_args, data_args, training_args)
    assert model.config.templates == (TASK, TASK, TASK)
    assert (model.config.hidden_layer, model.config.label_statistics) == (4, "nodes")


def test_source_statistics_fill_each_graphs_templates(minilm, monkeypatch):
    """Training's per-graph standardisation statistics encode the sampled nodes and the description with the
    templates filled from that graph, as evaluation does."""
    from propagation_zerog import graph_statistics
    from zerog_graph.trainer import SourceStatistics

    monkeypatch.setattr(minilm.config, "template", TASK)
    monkeypatch.setattr(minilm.config, "description_template", "About the graph: {text}")
    graphs = [small_graph(), small_graph(("history", "music"))]
    statistics = SourceStatistics(graphs, num_nodes=3)
    statistics.compute(minilm)
    for graph, (mean, scale) in zip(graphs, statistics.values):
        nodes = minilm.encode(graph.texts, labels=graph.label_names)
        prompt = minilm.encode([graph.description], kind="description")
        expected_mean, expected_scale = graph_statistics(torch.cat([nodes, prompt]))
        assert torch.allclose(mean, expected_mean[0], atol=1e-5)
        assert torch.allclose(scale, expected_scale[0], rtol=1e-3)
    assert not torch.allclose(statistics.values[0][0], statistics.values[1][0], atol=1e-4)


def test_template_fields_given_apart_win_and_misspelt_fields_are_refused(minilm_path):
    from zerog_graph.models import load_model

    model = load_model(minilm_path, template="task", label_template="{text}")
    assert model.config.templates == (TEMPLATES["task"].node, "{text}", TEMPLATES["task"].description)
    with pytest.raises(ValueError, match=r"has the field \{label\}"):
        ZeroGConfig(template="{label}: {text}")
    with pytest.raises(ValueError, match=r"label_template must contain '\{text\}' once \(or twice, for echo\); got"):
        ZeroGConfig(label_template="prompteol")
    config = ZeroGConfig()
    config.template = "task"  # a name set after the config was built
    assert config.templates == TEMPLATES["task"]
    assert fill_template("{labels}: {text}", ["Rule_Learning", "Theory"]) == ("Rule Learning, Theory: ", "")
