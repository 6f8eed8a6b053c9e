"""`num_rounds="auto"`: R chosen per graph from the unlabelled graph and the label texts alone."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from configuration_zerog import AUTO_ROUNDS, AUTO_ROUNDS_COLLAPSE, AUTO_ROUNDS_TOLERANCE, ZEROG_ROUNDS, ZeroGConfig
from propagation_zerog import choose_rounds, collapse, zerog_logits
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


def winding_ring(pull: float, num_nodes: int = 48, num_labels: int = 97):
    """A graph that never settles: node directions wind once around a circle, with a wiggle of five periods
    that each round irons out a little, on a ring (both directions); the label directions lie around the same
    circle, close together, so many predictions change every round. The description, `pull` times a unit
    vector, is the prompt node joined to every node: far off to one side, it draws all nodes towards it."""
    step = torch.arange(num_nodes, dtype=torch.float)
    angle = 2 * math.pi * step / num_nodes + 0.6 * torch.sin(2 * math.pi * 5 * step / num_nodes)
    nodes = torch.stack([angle.cos(), angle.sin()], dim=1)
    label_angle = 2 * math.pi * (torch.arange(num_labels) + 0.5) / num_labels
    labels = torch.stack([label_angle.cos(), label_angle.sin()], dim=1)
    ring = torch.arange(num_nodes)
    edges = torch.stack([ring, (ring + 1) % num_nodes])
    return nodes, torch.tensor([[pull, 0.0]]), labels, torch.cat([edges, edges.flip(0)], dim=1)


def pairwise_cosine(nodes, prompt, edges, num_rounds: int) -> float:
    """`collapse` by its definition, with dense matrices: standardise nodes and prompt together, propagate over
    D^-1/2 (A + I) D^-1/2 with the prompt joined to every node, average the N x N cosines off the diagonal."""
    num_nodes = nodes.size(0)
    x = torch.cat([nodes, prompt])
    x = (x - x.mean(0)) / x.std(0)
    adjacency = torch.eye(num_nodes + 1)
    adjacency[edges[0], edges[1]] = 1
    adjacency[:num_nodes, num_nodes] = adjacency[num_nodes, :num_nodes] = 1
    inv_sqrt = adjacency.sum(1).rsqrt()
    adjacency = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]
    unit = F.normalize(torch.linalg.matrix_power(adjacency, num_rounds) @ x, dim=-1)[:num_nodes]
    cosines = unit @ unit.T
    return ((cosines.sum() - cosines.diagonal().sum()) / (num_nodes * (num_nodes - 1))).item()


def test_choose_rounds_takes_the_first_round_that_changes_few_predictions():
    nodes, prompt, labels, edges = clustered_graph()
    chosen, diagnostics = choose_rounds(nodes, prompt, labels, edges)
    changed = diagnostics.changed
    assert len(changed) == len(AUTO_ROUNDS) - 1
    predictions = [zerog_logits(nodes, prompt, labels, edges, r, cosine=False).argmax(-1) for r in AUTO_ROUNDS]
    expected = [(b != a).float().mean().item() for a, b in zip(predictions, predictions[1:])]
    assert changed == pytest.approx(expected)
    # The rule, checked against its definition at three tolerances; with none met, the collapse decides.
    fallback = AUTO_ROUNDS[-1] if collapse(nodes, prompt, edges, AUTO_ROUNDS[-1]) < AUTO_ROUNDS_COLLAPSE else 2
    for tolerance in (0.0, 0.05, 1.01):
        chosen, diagnostics = choose_rounds(nodes, prompt, labels, edges, tolerance=tolerance)
        first = next((r for r, c in zip(AUTO_ROUNDS[1:], changed) if c < tolerance), None)
        assert chosen == (fallback if first is None else first)
        assert (diagnostics.collapse is None) == (first is not None)
    chosen, diagnostics = choose_rounds(nodes, prompt, labels, edges, tolerance=1.01)
    assert (chosen, diagnostics.branch, diagnostics.collapse) == (1, "settled", None)
    assert choose_rounds(nodes, prompt, labels, edges, tolerance=0.0)[1].branch != "settled"


@pytest.mark.parametrize(
    "pull, expected, branch",
    [(2.0, ZEROG_ROUNDS, "collapsing"), (0.0, AUTO_ROUNDS[-1], "not collapsing")],
    ids=["collapses", "stays-spread"],
)
def test_a_graph_that_never_settles_takes_r2_only_if_it_collapses(pull, expected, branch):
    nodes, prompt, labels, edges = winding_ring(pull)
    chosen, diagnostics = choose_rounds(nodes, prompt, labels, edges)
    assert min(diagnostics.changed) >= AUTO_ROUNDS_TOLERANCE  # no round settles
    assert diagnostics.collapse == pytest.approx(pairwise_cosine(nodes, prompt, edges, AUTO_ROUNDS[-1]), abs=1e-4)
    assert (diagnostics.collapse >= AUTO_ROUNDS_COLLAPSE) == (branch == "collapsing")
    assert (chosen, diagnostics.branch) == (expected, branch)
    # The ceiling is what decides: moved past the graph's collapse, the choice flips.
    other = AUTO_ROUNDS[-1] if expected == ZEROG_ROUNDS else ZEROG_ROUNDS
    ceiling = diagnostics.collapse + (0.01 if expected == ZEROG_ROUNDS else -0.01)
    assert choose_rounds(nodes, prompt, labels, edges, collapse_ceiling=ceiling)[0] == other


def test_collapse_is_the_mean_pairwise_cosine_of_the_propagated_nodes():
    nodes, prompt, _, edges = clustered_graph()
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    for rounds in (0, 1, 3, 10):
        expected = pairwise_cosine(nodes, prompt, edges, rounds)
        assert collapse(nodes, prompt, edges, rounds) == pytest.approx(expected, abs=1e-5)
    same = torch.ones(5, 3)  # all nodes alike, even unstandardised
    assert collapse(same, torch.zeros(1, 3), edges[:, :0], 2, standardize_embeds=False) == pytest.approx(1.0)
    assert collapse(nodes[:1], prompt, edges[:, :0], 2) == 1.0


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
        assert again.settings["auto_rounds"] == result.settings["auto_rounds"]
        assert torch.equal(again.logits, result.logits)
    assert result.settings["num_rounds"] in AUTO_ROUNDS
    assert len(result.settings["auto_rounds"]["changed"]) == len(AUTO_ROUNDS) - 1
    fixed = evaluate_graph(minilm, graph, num_rounds=result.settings["num_rounds"], cache=False)
    assert torch.equal(fixed.logits, result.logits) and fixed.settings["auto_rounds"] is None


def test_logits_for_several_rounds_equal_one_call_per_round():
    nodes, prompt, labels, edges = clustered_graph()
    for cosine in (True, False):
        several = zerog_logits(nodes, prompt, labels, edges, (0, 1, 4, 10), cosine=cosine)
        for rounds, logits in zip((0, 1, 4, 10), several):
            assert torch.equal(logits, zerog_logits(nodes, prompt, labels, edges, rounds, cosine=cosine))
    with pytest.raises(ValueError, match="ascending"):
        zerog_logits(nodes, prompt, labels, edges, (3, 1))
