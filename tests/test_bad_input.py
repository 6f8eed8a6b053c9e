"""Bad input at every entry point gets a clear error naming the file, field, node or edge; odd but
valid input is accepted and normalised."""

import json
import logging

import pytest
import torch

import train_hf
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from tests.conftest import tiny_config
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import main as cli
from zerog_graph.evaluate import evaluate_graph
from zerog_graph.graph import TextGraph
from zerog_graph.models import load_model

GOOD = {
    "texts": ["neural networks", "sql databases", "deep learning"],
    "edges": [[0, 2]],
    "labels": [0, 1, 0],
    "label_names": ["machine learning", "databases"],
    "description": "papers",
}


def write(path, data=None, raw: bytes = None):
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(data))
    return str(path)


def run_cli(capsys, *args) -> tuple:
    code = cli(["eval", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"texts": [1, "b", "c"]}, r"texts\[0\] \(node 0\) is int, not str"),
        ({"texts": ["a", None, "c"]}, r"texts\[1\] \(node 1\) is NoneType, not str"),
        ({"edges": [[0, 9]]}, r"edge 0 \[0, 9\] is out of range for 3 nodes"),
        ({"edges": [[-1, 0]]}, r"edge 0 \[-1, 0\] is out of range"),
        ({"labels": [0, 2, 0]}, r"labels\[1\] = 2 \(node 1\) is not in \[-1, 2\)"),
        ({"label_names": None}, r"missing key\(s\) \['label_names'\]"),
        ({"texts": None}, r"missing key\(s\) \['texts'\]"),
    ],
)
def test_cli_rejects_bad_graph_files(capsys, tmp_path, change, message):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    code, err = run_cli(capsys, "--model", "minilm", "--graph", write(tmp_path / "bad.json", data))
    assert code == 2
    assert "bad.json" in err
    import re

    assert re.search(message, err), err


def test_cli_rejects_non_utf8_and_pickles(capsys, tmp_path):
    code, err = run_cli(
        capsys,
        "--model",
        "minilm",
        "--graph",
        write(tmp_path / "latin1.json", raw='{"texts": ["caf\u00e9"]}'.encode("latin-1")),
    )
    assert code == 2 and "latin1.json: not UTF-8" in err

    class Payload:
        def __reduce__(self):
            return (print, ("never",))

    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", str(tmp_path / "evil.pt"))
    assert code == 2 and "evil.pt: refused by torch.load(weights_only=True)" in err


def test_cli_rejects_missing_backbone_and_existing_output(capsys, tmp_path):
    graph = write(tmp_path / "good.json", GOOD)
    code, err = run_cli(capsys, "--model", str(tmp_path / "no-such-model"), "--graph", graph)
    assert code == 2 and "no-such-model" in err and "neither a local folder nor reachable" in err
    (tmp_path / "results.json").write_text("{}")
    code, err = run_cli(capsys, "--model", "minilm", "--graph", graph, "--output", str(tmp_path / "results.json"))
    assert code == 2 and "results.json already exist(s); pass --overwrite" in err
    assert (tmp_path / "results.json").read_text() == "{}"


def test_lora_target_that_matches_nothing(tiny_backbones, data_dir, tmp_path):
    with pytest.raises(ValueError, match="nope"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["llama"], lora_target_modules=["nope"]))
    with pytest.raises(ValueError, match="nope"):
        train_hf.main(
            [
                "--model_name_or_path",
                tiny_backbones["llama"],
                "--source_graphs",
                "cora",
                "--output_dir",
                str(tmp_path / "run"),
                "--lora_target_modules",
                "nope",
                "--use_cpu",
                "--report_to",
                "none",
            ]
        )


def test_architecture_missing_from_the_table_falls_back(tmp_path, caplog, smollm2_path):
    from transformers import AutoTokenizer, Phi3Model

    Phi3Model(tiny_config("phi3", vocab_size=49152)).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(smollm2_path).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = ZeroGModel(ZeroGConfig(lm_name_or_path=str(tmp_path)))
    assert "No LoRA targets known for architecture 'phi3'; using 'all-linear'" in caplog.text
    targets = {name.split(".")[-1] for name in model.lm.peft_config["default"].target_modules}
    assert targets == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}  # every linear layer
    assert model.encode(["a text"]).shape == (1, 64)


def test_odd_but_valid_input_is_accepted(minilm_path, tmp_path):
    model = load_model(minilm_path)
    long_text = "graph " * 100_000
    graph = TextGraph(
        texts=["", long_text, "databases", "neural nets"],
        edge_index=torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1]]),  # a self-loop and a duplicate
        labels=[0, 0, 1, 0],
        label_names=["machine learning", "databases"],
    )
    assert graph.edge_index.tolist() == [[0, 1], [1, 0]]
    assert model.tokenize([long_text])["input_ids"].shape[1] == model.max_length
    result = evaluate_graph(model, graph, cache=EmbeddingCache(tmp_path))
    assert torch.isfinite(result.logits).all()
    no_edges = TextGraph(
        texts=["neural nets", "databases"],
        edge_index=torch.empty(2, 0, dtype=torch.long),
        labels=[0, 1],
        label_names=["machine learning", "databases"],
    )
    assert evaluate_graph(model, no_edges, cache=EmbeddingCache(tmp_path)).num_scored == 2


def test_empty_text_on_a_decoder_without_bos_still_has_a_token(smollm2_path):
    model = load_model(smollm2_path, template="")
    batch = model.tokenize(["", "hello"])
    assert batch["attention_mask"].sum(1).tolist() == [1, 1]
    assert batch["input_ids"][0, -1] == model.tokenizer.eos_token_id


def test_same_seed_same_accuracy_and_adapter(minilm_path, data_dir, tmp_path):
    args = [
        "--model_name_or_path",
        "minilm",
        "--source_graphs",
        "cora",
        "--num_subgraphs",
        "20",
        "--max_nodes",
        "6",
        "--max_seq_length",
        "32",
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--use_cpu",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--seed",
        "3",
        "--target_graphs",
        write(tmp_path / "toy.json", GOOD),
    ]
    first = train_hf.main(args + ["--output_dir", str(tmp_path / "a")])
    second = train_hf.main(args + ["--output_dir", str(tmp_path / "b")])
    assert first == second and first["toy"]["after"]["accuracy"] >= 0
    from safetensors.torch import load_file

    a, b = (
        load_file(tmp_path / "a" / "adapter_model.safetensors"),
        load_file(tmp_path / "b" / "adapter_model.safetensors"),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_hf_command_exits_2_naming_the_bad_file(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bad = write(tmp_path / "bad_source.json", {**GOOD, "labels": [0, 7, 0]})
    script = Path(__file__).resolve().parents[1] / "train_hf.py"
    command = [
        sys.executable,
        str(script),
        "--model_name_or_path",
        "minilm",
        "--source_graphs",
        bad,
        "--output_dir",
        str(tmp_path / "run"),
        "--use_cpu",
        "--report_to",
        "none",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "bad_source.json: labels[1] = 7 (node 1)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
