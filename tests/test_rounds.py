"""`num_rounds="auto"`: R chosen per graph from the unlabelled graph and the label texts alone."""

import copy

import pytest
import torch

from configuration_zerog import AUTO_ROUNDS, ZeroGConfig
from modeling_zerog import choose_rounds, zerog_logits
from zerog_graph import cli
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.registry import load_graph


def clustered_graph(num_nodes: int = 60, num_classes: int = 3, seed: int = 0):
    """Noisy node embeddings around class centres, on a ring: neighbours mostly share a class."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, 16, generator=generator)
    classes = torch.arange(num_nodes) * num_classes // num_nodes
    nodes = centres[classes] + 1.5 * torch.randn(num_nodes, 16, generator=generator)
    ring = torch.arange(num_nodes)
    edge_index = torch.stack([ring, (ring + 1) % num_nodes])
    return nodes, torch.zeros(1, 16), centres, edge_index


def test_choose_rounds_takes_the_first_round_that_changes_few_predictions():
    nodes, prompt, labels, edges = clustered_graph()
    chosen, changed = choose_rounds(nodes, prompt, labels, edges)
    assert len(changed) == len(AUTO_ROUNDS) - 1
    predictions = [zerog_logits(nodes, prompt, labels, edges, r, cosine=False).argmax(-1) for r in AUTO_ROUNDS]
    expected = [(b != a).float().mean().item() for a, b in zip(predictions, predictions[1:])]
    assert changed == pytest.approx(expected)
    # The rule, checked against its definition at three tolerances.
    for tolerance in (0.0, 0.05, 1.01):
        chosen, _ = choose_rounds(nodes, prompt, labels, edges, tolerance=tolerance)
        first = next((r for r, c in zip(AUTO_ROUNDS[1:], changed) if c < tolerance), AUTO_ROUNDS[-1])
        assert chosen == first
    assert choose_rounds(nodes, prompt, labels, edges, tolerance=1.01)[0] == 1
    assert choose_rounds(nodes, prompt, labels, edges, tolerance=0.0)[0] == AUTO_ROUNDS[-1]


def test_auto_is_a_config_value_and_a_cli_value():
    assert ZeroGConfig(num_rounds="auto").num_rounds == "auto"
    for bad in ("five", -1, "2"):
        with pytest.raises(ValueError, match="num_rounds"):
            ZeroGConfig(num_rounds=bad)
    args = cli.build_parser().parse_args(["eval", "--model", "m", "--graph", "g", "--rounds", "auto"])
    assert args.rounds == "auto"


@pytest.mark.slow
def test_auto_rounds_reads_no_labels(minilm, data_dir):
    """The chosen R and every score are the same with the labels shuffled or removed."""
    cora = load_graph("cora")
    graph = cora.subgraph(torch.arange(400))
    result = evaluate_graph(minilm, graph, num_rounds="auto", cache=False)
    shuffled = copy.copy(graph)
    shuffled.labels = graph.labels[torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(0))]
    removed = copy.copy(graph)
    removed.labels = torch.full_like(graph.labels, -1)
    assert not torch.equal(shuffled.labels, graph.labels)
    for other in (shuffled, removed):
        again = evaluate_graph(minilm, other, num_rounds="auto", cache=False)
        assert again.settings["num_rounds"] == result.settings["num_rounds"]
        assert again.settings["rounds"] == "auto"
        assert torch.equal(again.logits, result.logits)
    assert result.settings["num_rounds"] in AUTO_ROUNDS
    fixed = evaluate_graph(minilm, graph, num_rounds=result.settings["num_rounds"], cache=False)
    assert torch.equal(fixed.logits, result.logits)


def test_logits_for_several_rounds_equal_one_call_per_round():
    nodes, prompt, labels, edges = clustered_graph()
    for cosine in (True, False):
        several = zerog_logits(nodes, prompt, labels, edges, (0, 1, 4, 10), cosine=cosine)
        for rounds, logits in zip((0, 1, 4, 10), several):
            assert torch.equal(logits, zerog_logits(nodes, prompt, labels, edges, rounds, cosine=cosine))
    with pytest.raises(ValueError, match="ascending"):
        zerog_logits(nodes, prompt, labels, edges, (3, 1))
