"""Subgraph sampling, the collator, and train_hf.py with the HF Trainer (LoRA, QLoRA, resume, DDP)."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from torch_geometric.utils import k_hop_subgraph
from transformers import AutoModel, TrainingArguments

import propagation_zerog
import train_hf
from propagation_zerog import propagate
from tests.helpers import SHARED_DATA, launch_two_processes, tiny_config
from zerog_graph.cache import EmbeddingCache
from zerog_graph.collator import ZeroGCollator
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.graph import TextGraph, result_names
from zerog_graph.models import load_model
from zerog_graph.registry import load_graph
from zerog_graph.sampling import SubgraphDataset
from zerog_graph.trainer import ZeroGTrainer

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
    items[1]["labels"][0] = -1  # an unlabelled node keeps -1 whatever the classes before it
    assert ZeroGCollator(AutoTokenizer.from_pretrained(minilm_path), max_length=16)(items)["labels"][sizes[0]] == -1


# --- gradient accumulation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bert(minilm_path, tmp_path_factory) -> str:
    """A 2-layer random BERT with MiniLM's tokenizer and no dropout."""
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = tiny_config("bert", len(tokenizer))
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def one_update(model, items: list, batch_size: int, accumulation: int, output_dir) -> dict:
    """The change of each trainable weight after one Trainer step (SGD, learning rate 1, no clipping, so the
    change is minus the gradient) on `items`; the weights are restored afterwards."""
    start = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        optim="sgd",
        learning_rate=1.0,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=0.0,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    collator = ZeroGCollator(model.tokenizer, model.config.templates, model.max_length)
    ZeroGTrainer(model=model, args=args, train_dataset=items, data_collator=collator).train()
    update = {name: p.detach() - start[name] for name, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(start[name])
    return update


def largest_difference(a: dict, b: dict) -> float:
    return max((a[name] - b[name]).abs().max().item() for name in a)


def test_gradient_accumulation_averages_micro_batches(tiny_bert, tmp_path):
    """An accumulated step's loss is the mean of its micro-batches' losses, each the mean over that
    micro-batch's labelled nodes (`accepts_loss_kwargs = False`: the Trainer divides by the accumulation
    steps). So 2 x batch 1 equals batch 2 exactly when both subgraphs have as many labelled nodes, and
    otherwise equals the mean of the two one-subgraph updates."""
    model = load_model(tiny_bert, pooling_mode="mean", use_lora=True, lora_dropout=0.0, max_seq_length=32)
    graph = ring_graph()
    four = SubgraphDataset([graph], num_subgraphs=2, max_nodes=4, seed=0)
    five = SubgraphDataset([graph], num_subgraphs=1, max_nodes=5, seed=0)
    same_size = [four[0], four[1]]
    assert [len(item["texts"]) for item in same_size] == [4, 4] and all((i["labels"] >= 0).all() for i in same_size)
    batched = one_update(model, same_size, batch_size=2, accumulation=1, output_dir=tmp_path)
    accumulated = one_update(model, same_size, batch_size=1, accumulation=2, output_dir=tmp_path)
    assert max(u.abs().max().item() for u in batched.values()) > 1e-3  # the step moved the adapter
    assert largest_difference(accumulated, batched) <= 1e-6
    other_sizes = [four[0], five[0]]
    assert [len(item["texts"]) for item in other_sizes] == [4, 5]
    singles = [one_update(model, [item], 1, 1, tmp_path) for item in other_sizes]
    accumulated = one_update(model, other_sizes, batch_size=1, accumulation=2, output_dir=tmp_path)
    assert largest_difference(accumulated, {k: (singles[0][k] + singles[1][k]) / 2 for k in accumulated}) <= 1e-6


# --- train_hf.py --------------------------------------------------------------------------------------------


def write_graph(path: Path, graph: TextGraph, **fields) -> str:
    """`graph` as a JSON graph file (docs/formats.md), with `fields` replacing its keys."""
    edges = graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]].T.tolist()
    record = {
        "texts": graph.texts,
        "edges": edges,
        "labels": graph.labels.tolist(),
        "label_names": graph.label_names,
        "label_texts": graph.class_texts,
        "description": graph.description,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, **fields}))
    return str(path)


@pytest.fixture(scope="module")
def target_file(shared_data, tmp_path_factory):
    """120 Citeseer nodes, as a JSON file: a small unseen target graph."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZEROG_DATA", str(shared_data))
        citeseer = load_graph("citeseer")
    graph = citeseer.subgraph(torch.arange(0, citeseer.num_nodes, 26)[:120])
    return write_graph(tmp_path_factory.mktemp("target") / "citeseer_small.json", graph)


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
        "--warmup_steps",  # the recipe warms up over 10 steps, from a learning rate of 0 at the first
        "0",
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
    return load_file(Path(folder) / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_one_trainer_step_with_minilm_lora(data_dir, minilm_path, tmp_path):
    train_hf.main(
        train_args("minilm", tmp_path / "run", "--max_steps", "1", "--lora_dropout", "0", "--propagation", "appnp")
    )
    trained = adapter(tmp_path / "run")
    assert trained and all("lora_" in key for key in trained)
    assert any(v.abs().max() > 0 for k, v in trained.items() if "lora_B" in k)  # B starts at zero
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["lm_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2" and saved["propagation"] == "appnp"


@pytest.mark.slow
def test_one_bf16_trainer_step_on_the_cpu(data_dir, minilm_path, tmp_path, monkeypatch):
    """`--bf16 --use_cpu` trains under CPU autocast, where sparse propagation has no bf16 kernel."""
    autocast_on = []

    def recording(x, adj, num_rounds):
        autocast_on.append(torch.is_autocast_enabled("cpu"))
        return propagate(x, adj, num_rounds)

    monkeypatch.setattr(propagation_zerog, "propagate", recording)
    train_hf.main(train_args("minilm", tmp_path / "run", "--max_steps", "1", "--lora_dropout", "0", "--bf16"))
    assert autocast_on and all(autocast_on)  # the step ran under bf16 autocast
    assert any(v.abs().max() > 0 for k, v in adapter(tmp_path / "run").items() if "lora_B" in k)


@pytest.mark.slow
def test_one_trainer_step_with_smollm2_qlora(data_dir, smollm2_path, tmp_path):
    pytest.importorskip("bitsandbytes")
    train_hf.main(
        train_args("smollm2", tmp_path / "run", "--max_steps", "1", "--load_in_4bit", "--max_seq_length", "32")
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["quantization"] == "4bit" and config["template"].startswith("This passage")
    assert any(v.abs().max() > 0 for k, v in adapter(tmp_path / "run").items() if "lora_B" in k)


@pytest.mark.slow
def test_resume_reaches_the_same_adapter_as_an_uninterrupted_run(data_dir, minilm_path, tmp_path):
    steps = ["--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2"]
    train_hf.main(train_args("minilm", tmp_path / "full", *steps))
    train_hf.main(train_args("minilm", tmp_path / "cut", *steps))
    for leftover in ("checkpoint-4", "adapter"):  # as if killed after step 2
        shutil.rmtree(tmp_path / "cut" / leftover)
    (tmp_path / "cut" / "config.json").unlink()
    train_hf.main(
        train_args(
            "minilm", tmp_path / "cut", *steps, "--resume_from_checkpoint", str(tmp_path / "cut" / "checkpoint-2")
        )
    )
    state = json.loads((tmp_path / "cut" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "loss" in e][-2:] == [3, 4]
    full, resumed = adapter(tmp_path / "full"), adapter(tmp_path / "cut")
    assert max((full[k] - resumed[k]).abs().max().item() for k in full) <= 1e-6


@pytest.mark.slow
def test_saved_model_evaluates_like_the_in_memory_one(data_dir, minilm_path, target_file, tmp_path):
    citeseer = load_graph("citeseer")  # a second target with the same name, other nodes
    namesake = write_graph(
        tmp_path / "other" / "citeseer_small.json", citeseer.subgraph(torch.arange(1, citeseer.num_nodes, 26)[:40])
    )
    targets = ["--target_graphs", target_file, namesake]
    results = train_hf.main(
        train_args(
            "minilm",
            tmp_path / "run",
            "--max_steps",
            "2",
            *targets,
            "--num_source_eval_subgraphs",
            "2",
            "--standardize_with",
            "subgraph",  # so that the loss below needs no source statistics
        )
    )
    names = result_names([load_graph(target_file), load_graph(namesake)])
    assert list(results) == names and names[0] != names[1] and all(n.startswith("citeseer_small-") for n in names)
    assert all(set(results[name]) == {"before", "after"} for name in names)
    assert results[names[0]]["after"] != results[names[1]]["after"]
    record = json.loads((tmp_path / "run" / "zero_shot_results.json").read_text())
    assert record["sources"] == ["cora"] and record["results"] == results
    assert record["target_names"] == {names[0]: target_file, names[1]: namesake}
    assert record["source_loss"]["after"] < record["source_loss"]["before"]  # training lowered the source loss
    # offline, the backbone comes from its packaged copy; the adapter and config from the folder
    reloaded = AutoModel.from_pretrained(tmp_path / "run", trust_remote_code=True, lm_path=minilm_path)
    again = evaluate_graph(reloaded, load_graph(target_file), cache=EmbeddingCache(tmp_path / "cache"))
    assert again.accuracy == pytest.approx(results[names[0]]["after"]["accuracy"], abs=1e-9)
    # the held-aside loss is the model's loss on the two held-aside subgraphs (one eval batch of 8)
    data_args = train_hf.DataArguments(source_graphs=["cora"], max_nodes=6)
    held_aside = train_hf.subgraphs([load_graph("cora")], 2, data_args, seed=7 + 1)
    collator = ZeroGCollator(reloaded.tokenizer, reloaded.config.templates, reloaded.max_length)
    with torch.no_grad():
        loss = reloaded(**collator([held_aside[0], held_aside[1]])).loss.item()
    assert loss == pytest.approx(record["source_loss"]["after"], abs=1e-5)
    # the card's metadata is a model-index holding each target's zero-shot figures after training
    card = ModelCard.load(tmp_path / "run" / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and "cora" in card.text
    figures = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert {r.task_type for r in card.data.eval_results} == {"node-classification"}
    assert figures == {
        (name, kind): results[name]["after"][metric]
        for name in names
        for kind, metric in (("accuracy", "accuracy"), ("f1", "macro_f1"))
    }


@pytest.mark.slow
def test_refusals(data_dir, tmp_path):
    with pytest.raises(ValueError, match="Full fine-tuning of a decoder"):
        train_hf.main(train_args("smollm2", tmp_path / "a", "--full_finetune", "--max_steps", "1"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a model; pass --overwrite_output"):
        train_hf.main(train_args("minilm", tmp_path / "c", "--max_steps", "1"))


def one_class_file(tmp_path) -> list:
    graph = ring_graph()
    return ["--source_graphs", write_graph(tmp_path / "one.json", graph, labels=[0] * graph.num_nodes)]


def unlabelled_file(tmp_path) -> list:
    graph = ring_graph()
    return ["--target_graphs", write_graph(tmp_path / "unlabelled.json", graph, labels=[-1] * graph.num_nodes)]


def same_file_spelled_otherwise(tmp_path) -> list:
    return ["--target_graphs", str(SHARED_DATA / ".." / SHARED_DATA.name / "cora.json")]


def copy_of_cora(tmp_path) -> list:
    return ["--target_graphs", write_graph(tmp_path / "copy" / "mine.json", load_graph("cora", label_texts=False))]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max_steps", "0"], "--max_steps 0 trains nothing"),
        (["--num_train_epochs", "0"], "--num_train_epochs 0.0 gives zero training steps"),
        (["--max_steps", "1", "--num_subgraphs", "0"], "--num_subgraphs must be at least 1, got 0"),
        (["--max_steps", "1", "--target_graphs", "cora"], "target 'cora' has the same file as source 'cora'"),
        (["--max_steps", "1", same_file_spelled_otherwise], "data/cora.json' has the same file as source 'cora'"),
        (["--max_steps", "1", copy_of_cora], "has the same nodes, edges and labels as source 'cora'"),
        (["--max_steps", "1", unlabelled_file], "unlabelled.json) has no labelled node in its evaluation mask"),
        (["--max_steps", "1", one_class_file], "one.json) has labelled nodes of 1 class; training needs at least 2"),
        (["--max_steps", "1", "--min_classes", "8"], "min_classes=8 but only 7 classes have labelled nodes"),
        (
            ["--max_steps", "1", "--k_hops", "1", "--max_nodes", "2", "--min_classes", "3"],
            "cora: no 1-hop subgraph with >= 3 classes in 100 tries",
        ),
        (["--num_rounds", "five"], "--num_rounds must be an integer in [0, 100] or 'auto', got 'five'"),
        (["--min_classes", "2", "3"], "--min_classes takes one value or one per source graph (1), got 2"),
        (["--statistics_refresh_steps", "-1"], "--statistics_refresh_steps must be 0 (never) or more, got -1"),
        (["--train_max_length", "0"], "--train_max_length must be at least 1, got 0"),
    ],
    ids=[
        "max_steps_0",
        "zero_epochs",
        "no_subgraphs",
        "target_is_source",
        "same_file_other_path",
        "same_content_other_file",
        "unlabelled_target",
        "one_class_source",
        "min_classes_too_many",
        "rule_never_met",
        "rounds_not_a_number",
        "min_classes_per_source_mismatch",
        "negative_refresh",
        "train_length_0",
    ],
)
def test_train_hf_refuses_before_training(data_dir, tmp_path, extra, message):
    """Each case fails before any model loads; train_hf.py maps these ValueErrors to exit 2."""
    extra = [arg for item in extra for arg in (item(tmp_path) if callable(item) else [item])]
    with pytest.raises(ValueError, match=re.escape(message)):
        train_hf.main(train_args("no-such-backbone", tmp_path / "run", *extra))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_hf_exit_codes(tmp_path, capsys):
    run = [sys.executable, str(REPO / "train_hf.py")]
    result = subprocess.run(
        [*run, *train_args("minilm", tmp_path / "run", "--max_steps", "0")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "train_hf.py: error: --max_steps 0 trains nothing" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(SystemExit) as exit_:  # argparse's own exit: no process needed to see it
        train_hf.main(train_args("minilm", tmp_path / "run", "--pooling_mode", "max"))
    assert exit_.value.code == 2 and "invalid choice: 'max'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("flag, trusted", [([], False), (["--trust_remote_code"], True)])
def test_trust_remote_code_reaches_load_model(data_dir, tmp_path, monkeypatch, flag, trusted):
    import zerog_graph.models

    seen = {}

    def spy(name_or_path, **kwargs):
        seen.update(kwargs)
        raise ImportError("stop before loading")

    monkeypatch.setattr(zerog_graph.models, "load_model", spy)
    with pytest.raises(ImportError, match="stop before loading"):
        train_hf.main(train_args("minilm", tmp_path / "run", "--max_steps", "1", *flag))
    assert seen["trust_remote_code"] is trusted


def test_defaults_and_choices_come_from_the_config():
    """The model settings default to None, "not given": a new model then gets ZeroGConfig's defaults (named in
    the help), a saved one keeps its own."""
    from configuration_zerog import POOLING_MODES, ZeroGConfig

    parser = train_hf.HfArgumentParser((train_hf.ModelArguments, train_hf.DataArguments))
    model_args, data_args = parser.parse_args_into_dataclasses(args=["--source_graphs", "cora"])
    config = ZeroGConfig()
    for name in ("pooling_mode", "max_seq_length", "lora_alpha", "lora_dropout", "logit_scale", "propagation"):
        assert getattr(model_args, name) is None, name
        action = next(action for action in parser._actions if action.dest == name)
        assert f"{getattr(config, name)!r}" in action.help or f"{getattr(config, name)}" in action.help, name
    assert (data_args.num_rounds, data_args.standardize) == (None, None)
    pooling = next(action for action in parser._actions if action.dest == "pooling_mode")
    assert tuple(pooling.choices) == POOLING_MODES


@pytest.mark.slow
def test_accelerate_launch_two_processes(data_dir, minilm_path, tmp_path):
    held_aside = ["--num_source_eval_subgraphs", "3"]  # split unevenly: the Trainer's gather drops the padding
    result = launch_two_processes(
        REPO / "train_hf.py", *train_args("minilm", tmp_path / "ddp", "--max_steps", "2", *held_aside)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    # 40 subgraphs, 2 per process and step: 2 steps on 2 processes see 8 of them, a fifth of an epoch
    assert "'train_runtime'" in output and "'epoch': '0.2'" in output, output[-2000:]
    assert (tmp_path / "ddp" / "adapter" / "adapter_model.safetensors").exists()
    source_loss = json.loads((tmp_path / "ddp" / "zero_shot_results.json").read_text())["source_loss"]
    assert all(0 < loss < 10 for loss in source_loss.values()) and "'before_source_loss'" in output


@pytest.mark.slow
def test_training_a_saved_model_keeps_its_settings(data_dir, minilm_path, tmp_path):
    """Continuing from a saved ZeroG folder keeps its pooling and rounds; only options given a value
    other than train_hf's default (here --max_seq_length 48) change them."""
    saved = load_model(minilm_path, pooling_mode="cls", num_rounds=3, max_seq_length=64, use_lora=True)
    saved.save_pretrained(tmp_path / "saved")
    train_hf.main(train_args(str(tmp_path / "saved"), tmp_path / "out", "--max_steps", "1"))
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (config["pooling_mode"], config["num_rounds"], config["max_seq_length"]) == ("cls", 3, 48)


class RecordingHub:
    """Stands in for transformers' `hf_api()`: records the repository and the files each upload would send."""

    def __init__(self):
        self.repos, self.uploads = [], []

    def create_repo(self, repo_id, **kwargs):
        self.repos.append(repo_id)
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, folder_path, ignore_patterns=(), **kwargs):
        from huggingface_hub.utils import filter_repo_objects

        files = [str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file()]
        self.uploads.append(sorted(filter_repo_objects(files, ignore_patterns=ignore_patterns)))
        return "https://huggingface.co/org/zerog-test/commit/0"


@pytest.mark.slow
def test_training_is_quiet_and_pushes_through_the_trainer(data_dir, tmp_path, monkeypatch, capsys, recwarn):
    """No second time estimate beside the Trainer's own, no pin_memory or `is_gradient_checkpointing` warning on
    the CPU (no --use_cpu: as `accelerate launch --cpu` runs it), and --push_to_hub goes through
    `Trainer.push_to_hub`: one upload with the ZeroG card and no pickle."""
    import transformers.trainer

    hub = RecordingHub()
    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: hub)
    args = [a for a in train_args("minilm", tmp_path / "run", "--max_steps", "4") if a != "--use_cpu"]
    train_hf.main([*args, "--push_to_hub", "--hub_model_id", "org/zerog-test"])
    out = capsys.readouterr()
    assert "min left" not in out.out + out.err
    messages = [str(w.message) for w in recwarn]
    assert not [m for m in messages if "pin_memory" in m or "is_gradient_checkpointing" in m], messages
    assert hub.repos == ["org/zerog-test"] and len(hub.uploads) == 1
    assert "adapter/adapter_model.safetensors" in hub.uploads[0] and "README.md" in hub.uploads[0]
    assert not [f for f in hub.uploads[0] if f.endswith((".bin", ".pt", ".pth")) or f.startswith("checkpoint")]
    assert "# ZeroG on" in (tmp_path / "run" / "README.md").read_text()
    assert "https://huggingface.co/org/zerog-test/commit/0" in out.out


def test_a_pickle_in_the_output_folder_stops_the_push(tmp_path):
    from zerog_graph.trainer import check_no_pickle_pushed

    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "optimizer.pt").write_bytes(b"")  # skipped by the Trainer's push
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"")
    check_no_pickle_pushed(tmp_path)
    (tmp_path / "adapter" / "extra.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"adapter/extra\.bin: a pickle, which --push_to_hub never uploads"):
        check_no_pickle_pushed(tmp_path)


def test_hub_strategies_that_upload_pickles_are_refused(capsys):
    with pytest.raises(SystemExit):
        train_hf.parse_arguments(["--source_graphs", "cora", "--output_dir", "x", "--hub_strategy", "checkpoint"])
    assert "invalid choice: 'checkpoint'" in capsys.readouterr().err
