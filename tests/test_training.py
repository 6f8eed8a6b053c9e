"""Subgraph sampling, the collator, and train_hf.py with the HF Trainer (LoRA, QLoRA, resume, DDP)."""

import json
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch_geometric.utils import k_hop_subgraph
from transformers import AutoModel

import train_hf
from tests.conftest import launch_two_processes
from zerog_graph.cache import EmbeddingCache
from zerog_graph.collator import ZeroGCollator
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.graph import TextGraph
from zerog_graph.registry import load_graph
from zerog_graph.sampling import SubgraphDataset

REPO = Path(__file__).resolve().parents[1]


def ring_graph(num_nodes: int = 24, num_classes: int = 4) -> TextGraph:
    """A ring whose classes repeat every two nodes: 0 0 1 1 2 2 3 3 0 0 ..."""
    nodes = torch.arange(num_nodes)
    edge_index = torch.stack([nodes, (nodes + 1) % num_nodes])
    return TextGraph(
        texts=[f"node {i}" for i in range(num_nodes)],
        edge_index=edge_index,
        labels=(nodes // 2) % num_classes,
        label_names=[f"class {c}" for c in range(num_classes)],
        description="a ring",
        name="ring",
    )


# --- sampling and collation ----------------------------------------------------------------------------


def test_subgraphs_follow_the_zerog_rule():
    graph = ring_graph()
    dataset = SubgraphDataset([graph], num_subgraphs=30, k_hops=2, max_nodes=4, seed=0)
    assert dataset.min_classes == [2] and len(dataset) == 30
    for index in range(len(dataset)):
        item = dataset[index]
        nodes = [int(t.split()[1]) for t in item["texts"]]
        assert len(nodes) <= 4 and item["labels"].unique().numel() >= 2
        centre_hoods = [set(k_hop_subgraph(c, 2, graph.edge_index, num_nodes=24)[0].tolist()) for c in nodes]
        assert any(set(nodes) <= hood for hood in centre_hoods)  # all within k hops of one centre
    again = SubgraphDataset([graph], num_subgraphs=30, k_hops=2, max_nodes=4, seed=0)
    other = SubgraphDataset([graph], num_subgraphs=30, k_hops=2, max_nodes=4, seed=1)
    assert all(again[i]["texts"] == dataset[i]["texts"] for i in range(30))
    assert any(other[i]["texts"] != dataset[i]["texts"] for i in range(30))


def test_impossible_subgraph_rule_is_a_clear_error():
    dataset = SubgraphDataset([ring_graph()], num_subgraphs=1, k_hops=1, max_nodes=3, min_classes=4, max_tries=5)
    with pytest.raises(ValueError, match="ring: no 1-hop subgraph with >= 4 classes in 5 tries"):
        dataset[0]


def test_collator_shapes(minilm_path):
    from transformers import AutoTokenizer

    graph = ring_graph()
    dataset = SubgraphDataset([graph, graph.subgraph(torch.arange(12))], num_subgraphs=1, max_nodes=5)
    items = [dataset[0], dataset[1]]
    batch = ZeroGCollator(AutoTokenizer.from_pretrained(minilm_path), max_length=16)(items)
    sizes = [len(item["texts"]) for item in items]
    assert batch["input_ids"].shape[0] == batch["attention_mask"].shape[0] == sum(sizes)
    assert batch["prompt_input_ids"].shape[0] == 2 and batch["label_input_ids"].shape[0] == 8
    assert batch["batch"].tolist() == [0] * sizes[0] + [1] * sizes[1]
    assert batch["label_batch"].tolist() == [0] * 4 + [1] * 4
    assert batch["labels"].tolist() == items[0]["labels"].tolist() + (items[1]["labels"] + 4).tolist()
    assert batch["edge_index"][:, items[0]["edge_index"].size(1) :].min() >= sizes[0]


# --- train_hf.py --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target_file(data_dir, tmp_path_factory):
    """120 Citeseer nodes, as a JSON file: a small unseen target graph."""
    citeseer = load_graph("citeseer")
    graph = citeseer.subgraph(torch.arange(0, citeseer.num_nodes, 26)[:120])
    path = tmp_path_factory.mktemp("target") / "citeseer_small.json"
    edges = graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]].T.tolist()
    path.write_text(
        json.dumps(
            {
                "texts": graph.texts,
                "edges": edges,
                "labels": graph.labels.tolist(),
                "label_names": graph.label_names,
                "label_texts": graph.class_texts,
                "description": graph.description,
            }
        )
    )
    return str(path)


def train_args(model, output_dir, *extra):
    return [
        "--model_name_or_path",
        model,
        "--source_graphs",
        "cora",
        "--output_dir",
        str(output_dir),
        "--num_subgraphs",
        "40",
        "--max_nodes",
        "6",
        "--max_seq_length",
        "48",
        "--per_device_train_batch_size",
        "2",
        "--learning_rate",
        "5e-3",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--use_cpu",
        "--seed",
        "7",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        *extra,
    ]


def adapter(folder) -> dict:
    return load_file(Path(folder) / "adapter_model.safetensors")


def test_one_trainer_step_with_minilm_lora(data_dir, minilm_path, tmp_path):
    train_hf.main(train_args("minilm", tmp_path / "run", "--max_steps", "1", "--lora_dropout", "0"))
    trained = adapter(tmp_path / "run")
    assert trained and all("lora_" in key for key in trained)
    assert any(v.abs().max() > 0 for k, v in trained.items() if "lora_B" in k)  # B starts at zero
    assert (
        json.loads((tmp_path / "run" / "config.json").read_text())["lm_name_or_path"]
        == "sentence-transformers/all-MiniLM-L6-v2"
    )


def test_one_trainer_step_with_smollm2_qlora(data_dir, smollm2_path, tmp_path):
    pytest.importorskip("bitsandbytes")
    train_hf.main(
        train_args("smollm2", tmp_path / "run", "--max_steps", "1", "--load_in_4bit", "--max_seq_length", "32")
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["quantization"] == "4bit" and config["template"].startswith("This passage")
    assert any(v.abs().max() > 0 for k, v in adapter(tmp_path / "run").items() if "lora_B" in k)


def test_resume_reaches_the_same_adapter_as_an_uninterrupted_run(data_dir, minilm_path, tmp_path):
    steps = ["--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2"]
    train_hf.main(train_args("minilm", tmp_path / "full", *steps))
    train_hf.main(train_args("minilm", tmp_path / "cut", *steps))
    for leftover in ("checkpoint-4", "adapter_model.safetensors", "config.json"):  # as if killed after step 2
        target = tmp_path / "cut" / leftover
        subprocess.run(["rm", "-rf", str(target)], check=True)
    train_hf.main(
        train_args(
            "minilm", tmp_path / "cut", *steps, "--resume_from_checkpoint", str(tmp_path / "cut" / "checkpoint-2")
        )
    )
    state = json.loads((tmp_path / "cut" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "loss" in e][-2:] == [3, 4]
    full, resumed = adapter(tmp_path / "full"), adapter(tmp_path / "cut")
    assert max((full[k] - resumed[k]).abs().max().item() for k in full) <= 1e-6


def test_saved_model_evaluates_like_the_in_memory_one(data_dir, minilm_path, target_file, tmp_path):
    results = train_hf.main(
        train_args(
            "minilm",
            tmp_path / "run",
            "--max_steps",
            "2",
            "--target_graphs",
            target_file,
            "--num_source_eval_subgraphs",
            "2",
        )
    )
    assert set(results["citeseer_small"]) == {"before", "after"}
    record = json.loads((tmp_path / "run" / "zero_shot_results.json").read_text())
    assert record["sources"] == ["cora"] and record["results"] == results
    assert record["source_loss"]["before"] != record["source_loss"]["after"]  # the adapter moved
    # offline, the backbone comes from its packaged copy; the adapter and config from the folder
    reloaded = AutoModel.from_pretrained(tmp_path / "run", trust_remote_code=True, lm_path=minilm_path)
    target = load_graph(target_file)
    again = evaluate_graph(reloaded, target, cache=EmbeddingCache(tmp_path / "cache"))
    assert again.accuracy == pytest.approx(results["citeseer_small"]["after"]["accuracy"], abs=1e-9)
    card = (tmp_path / "run" / "README.md").read_text()
    assert "sentence-transformers/all-MiniLM-L6-v2" in card and "citeseer_small" in card and "cora" in card


def test_refusals(data_dir, tmp_path):
    with pytest.raises(ValueError, match="Full fine-tuning of a decoder"):
        train_hf.main(train_args("smollm2", tmp_path / "a", "--full_finetune", "--max_steps", "1"))
    with pytest.raises(ValueError, match="must be unseen in training"):
        train_hf.main(train_args("minilm", tmp_path / "b", "--target_graphs", "cora", "--max_steps", "1"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a model; pass --overwrite_output"):
        train_hf.main(train_args("minilm", tmp_path / "c", "--max_steps", "1"))


def test_accelerate_launch_two_processes(data_dir, minilm_path, tmp_path):
    result = launch_two_processes(REPO / "train_hf.py", *train_args("minilm", tmp_path / "ddp", "--max_steps", "2"))
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # 40 subgraphs, 2 per process and step: 2 steps on 2 processes see 8 of them, a fifth of an epoch
    assert "'train_runtime'" in output and "'epoch': '0.2'" in output, output[-2000:]
    assert (tmp_path / "ddp" / "adapter_model.safetensors").exists()
