"""Issue 20: what loads but is wrong, outputs written safely, limits on what data can make a run do, and clean
failures. Each test fails without its fix; docs/safety.md states the rules they check."""

import csv
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

import train_hf
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from tests.helpers import tiny_config
from tokenization_zerog import CHARS_PER_TOKEN
from zerog_graph.cache import EmbeddingCache
from zerog_graph.cli import class_names
from zerog_graph.cli import main as cli
from zerog_graph.evaluate import GraphResult, evaluate_graph, write_predictions
from zerog_graph.graph import GraphError, TextGraph
from zerog_graph.models import load_model
from zerog_graph.paths import write_atomically

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Graph neural networks for citation data.", "A recipe for bread with flour and yeast.", "Query plans."]
GRAPH = {"texts": TEXTS, "edges": [[0, 1]], "labels": [0, 1, 0], "label_names": ["learning", "cooking"]}


@pytest.fixture(scope="module")
def tiny_bert(minilm_path, tmp_path_factory) -> str:
    """A 2-layer random BERT with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert") / "bert"
    BertModel(tiny_config("bert", len(tokenizer))).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def saved(tiny_bert, tmp_path_factory):
    """A saved ZeroG model on the tiny BERT, with a LoRA adapter that matters, and its embeddings of TEXTS."""
    torch.manual_seed(0)
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_bert, max_seq_length=32))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.5)
    folder = tmp_path_factory.mktemp("saved") / "zerog"
    model.save_pretrained(folder)
    return folder, model.eval().encode(TEXTS)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROG_CACHE", str(tmp_path / "zerog-cache"))


def copy_of(folder: Path, tmp_path: Path, name: str = "model") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target, symlinks=True)
    return target


def edit_json(path: Path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def graph_file(tmp_path: Path, **changes) -> str:
    path = tmp_path / "g.json"
    path.write_text(json.dumps({**GRAPH, **changes}))
    return str(path)


def run_cli(capsys, *args) -> tuple:
    code = cli(list(args))
    captured = capsys.readouterr()
    return code, captured.err


# --- 1. loads, runs, and is wrong ------------------------------------------------------------------------


def empty_adapter(weights: dict) -> dict:
    return {}


def renamed_keys(weights: dict) -> dict:
    return {key.replace("lora_A", "lora_a"): value for key, value in weights.items()}


def half_the_keys(weights: dict) -> dict:
    return dict(sorted(weights.items())[: len(weights) // 2])


def other_shapes(weights: dict) -> dict:
    return {key: torch.zeros(value.shape[0] + 1, value.shape[1]) for key, value in weights.items()}


ADAPTER_CASES = [
    (empty_adapter, r"missing 'base_model"),
    (renamed_keys, r"missing 'base_model.*lora_A.weight'"),
    (half_the_keys, r"missing 'base_model"),
    (other_shapes, r"adapter_model.safetensors: the adapter cannot be loaded \(RuntimeError: .*size mismatch"),
]


@pytest.mark.parametrize("change, message", ADAPTER_CASES, ids=["empty", "renamed", "half", "shapes"])
def test_an_adapter_that_does_not_fit_is_refused(saved, tmp_path, capsys, change, message):
    folder = copy_of(saved[0], tmp_path)
    weights = folder / "adapter" / "adapter_model.safetensors"
    save_file(change(load_file(weights)), weights)
    with pytest.raises(ValueError, match=message):
        load_model(str(folder))
    code, err = run_cli(capsys, "eval", "--model", str(folder), "--graph", graph_file(tmp_path))
    assert code == 2 and "adapter_model.safetensors" in err and "Traceback" not in err, err


def test_another_models_weights_as_the_adapter_are_refused(saved, tiny_bert, tmp_path):
    folder = copy_of(saved[0], tmp_path)
    shutil.copy(Path(tiny_bert) / "model.safetensors", folder / "adapter" / "adapter_model.safetensors")
    with pytest.raises(ValueError, match=r"adapter_model.safetensors: the adapter does not fit .* first: missing"):
        load_model(str(folder))


def checkpoint_of(saved_folder: Path, tmp_path: Path) -> Path:
    """A checkpoint folder as the Trainer writes one for ZeroG: the adapter and trainer_state.json."""
    checkpoint = tmp_path / "run" / "checkpoint-2"
    shutil.copytree(saved_folder / "adapter", checkpoint / "adapter")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": []}))
    return checkpoint


@pytest.fixture
def trainer(saved):
    from transformers import TrainingArguments

    from zerog_graph.trainer import ZeroGTrainer

    model = load_model(str(saved[0]))
    args = TrainingArguments(output_dir=str(Path(saved[0]).parent / "out"), use_cpu=True, report_to=[])
    trainer = ZeroGTrainer(model=model, args=args, train_dataset=[])
    trainer.create_optimizer_and_scheduler(num_training_steps=2)
    return trainer


def test_resume_from_an_adapter_that_does_not_fit_is_refused(saved, trainer, tmp_path):
    checkpoint = checkpoint_of(saved[0], tmp_path)
    save_file({}, checkpoint / "adapter" / "adapter_model.safetensors")
    with pytest.raises(ValueError, match=r"checkpoint-2/adapter/adapter_model.safetensors: the adapter does not fit"):
        trainer._load_from_checkpoint(str(checkpoint))
    (checkpoint / "adapter" / "adapter_model.safetensors").write_bytes(b"\x10\x00")  # truncated
    with pytest.raises(ValueError, match=r"checkpoint-2/adapter: the adapter cannot be loaded"):
        trainer._load_from_checkpoint(str(checkpoint))


def test_checkpoint_files_that_cannot_load_are_named_and_pickles_never_run(saved, trainer, tmp_path):
    checkpoint, marker = checkpoint_of(saved[0], tmp_path), tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path(marker).write_text, ("ran",))

    torch.save({"python": Payload()}, checkpoint / "rng_state.pth")
    with pytest.raises(ValueError, match=r"checkpoint-2: its RNG state \(rng_state\*.pth\) cannot be loaded \(Unpick"):
        trainer._load_rng_state(str(checkpoint))
    assert not marker.exists()
    torch.save(trainer.optimizer.state_dict(), checkpoint / "optimizer.pt")
    torch.save(trainer.lr_scheduler.state_dict(), checkpoint / "scheduler.pt")
    (checkpoint / "optimizer.pt").write_bytes((checkpoint / "optimizer.pt").read_bytes()[:50])
    with pytest.raises(ValueError, match=r"checkpoint-2: optimizer.pt or scheduler.pt cannot be loaded"):
        trainer._load_optimizer_and_scheduler(str(checkpoint))


CHECKPOINT_CASES = [
    (lambda c: shutil.rmtree(c / "adapter"), r"checkpoint-2/adapter/adapter_model.safetensors: missing"),
    (lambda c: (c / "trainer_state.json").write_text("{nope"), r"checkpoint-2/trainer_state.json: not valid JSON"),
    (lambda c: (c / "trainer_state.json").write_text("[]"), r"trainer_state.json: expected a JSON object, got list"),
    (lambda c: shutil.rmtree(c), r"--resume_from_checkpoint .*checkpoint-2: not a folder"),
]


@pytest.mark.parametrize("damage, message", CHECKPOINT_CASES, ids=["no-adapter", "bad-state", "state-list", "gone"])
def test_a_checkpoint_that_cannot_be_resumed_is_refused_before_anything_loads(saved, tmp_path, damage, message):
    checkpoint = checkpoint_of(saved[0], tmp_path)
    damage(checkpoint)
    args = ["--model_name_or_path", "no-such-backbone", "--source_graphs", "cora", "--output_dir", str(tmp_path / "o")]
    with pytest.raises(ValueError, match=message):
        train_hf.main(args + ["--resume_from_checkpoint", str(checkpoint), "--use_cpu", "--report_to", "none"])


def test_nan_embeddings_are_refused_naming_the_model(tiny_bert, tmp_path, capsys):
    broken = copy_of(Path(tiny_bert), tmp_path, "nan-bert")
    weights = load_file(broken / "model.safetensors")
    name = next(key for key in weights if "attention.self.query.weight" in key)
    weights[name][0, 0] = float("nan")
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    model = load_model(str(broken))
    with pytest.raises(ValueError, match=r"nan-bert.* gives NaN or infinite embeddings for 3 of 3 texts"):
        model.encode(TEXTS)
    code, err = run_cli(capsys, "eval", "--model", str(broken), "--graph", graph_file(tmp_path))
    assert code == 2 and "gives NaN or infinite embeddings" in err and str(broken) in err, err


def test_cosines_stay_in_range_where_standardised_embeddings_vanish(minilm_path, tmp_path):
    """Identical node texts standardise to rounding noise; the cosines written must still be cosines."""
    model = load_model(minilm_path)
    graph = TextGraph(texts=[""] * 6, edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), labels=[0, 1] * 3,
                      label_names=["learning", "cooking"])  # fmt: skip
    result = evaluate_graph(model, graph, 2, True, cache=EmbeddingCache(tmp_path), with_cosines=True)
    assert result.cosines.abs().max() <= 1, result.cosines


@pytest.mark.parametrize("texts", [["", "", ""], ["  ", "\n", "\t"]], ids=["empty", "blank"])
def test_a_graph_whose_texts_are_all_empty_is_refused(tmp_path, capsys, texts):
    code, err = run_cli(capsys, "eval", "--model", "minilm", "--graph", graph_file(tmp_path, texts=texts))
    assert code == 2 and "g.json: every node text is empty or blank" in err, err


def test_a_diverged_loss_or_adapter_stops_training_at_the_logging_step(saved):
    from zerog_graph.trainer import ZeroGTrainer

    model = load_model(str(saved[0]))
    fake = SimpleNamespace(state=SimpleNamespace(global_step=7), model=model)
    for loss in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=rf"the training loss is {loss} at step 7: training diverged"):
            ZeroGTrainer.log(fake, {"loss": loss})
    next(p for n, p in model.named_parameters() if "lora_A" in n).data[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"lora_A.* holds NaN or infinite values at step 7"):
        ZeroGTrainer.log(fake, {"loss": 0.0})


CLASS_CASES = [
    (["Cat", "cat"], "'Cat' and 'cat'"),
    (["caf\u00e9", "cafe\u0301"], "'caf\\xe9' and 'cafe\\u0301'"),  # NFC and NFD, told apart by their escapes
    (["machine_learning", "machine learning"], "'machine_learning' and 'machine learning'"),
    (["\ufb01sh", "fish"], "'\\ufb01sh' and 'fish'"),  # a ligature (NFKC)
    (["a  b", "A b"], "'a  b' and 'A b'"),
]


@pytest.mark.parametrize("names, pair", CLASS_CASES, ids=["case", "nfc-nfd", "underscore", "nfkc", "spaces"])
def test_class_names_equal_once_normalised_are_refused_naming_the_pair(tmp_path, capsys, names, pair):
    with pytest.raises(GraphError, match=re.escape(f"label_names names classes {pair}, the same name once")):
        TextGraph(texts=["a", "b"], edge_index=[], labels=[0, 1], label_names=names)
    code, err = run_cli(capsys, "eval", "--model", "minilm", "--graph", graph_file(tmp_path, label_names=names))
    assert code == 2 and f"g.json: label_names names classes {pair}" in err, err


def test_label_texts_that_coincide_are_refused():
    with pytest.raises(GraphError, match="label_texts of classes 'x' and 'y' are the same text"):
        TextGraph(texts=["a"], edge_index=[], labels=[0], label_names=["x", "y"], label_texts=["Birds", "birds"])


FINGERPRINT = """
import sys
from zerog_graph.cache import model_fingerprint
from zerog_graph.models import load_model
print(model_fingerprint(load_model(sys.argv[1])))
"""


@pytest.mark.slow
def test_the_cache_key_of_a_lora_model_is_the_same_in_every_process(tiny_bert, tmp_path):
    """peft keeps target_modules as a set, whose order follows PYTHONHASHSEED."""
    folder = tmp_path / "four-targets"
    ZeroGModel(
        ZeroGConfig(lm_name_or_path=str(tiny_bert), lora_target_modules=["query", "key", "value", "dense"])
    ).save_pretrained(folder)
    keys = set()
    for seed in ("1", "2", "3", "4"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
        result = subprocess.run(
            [sys.executable, "-c", FINGERPRINT, str(folder)], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
        keys.add(result.stdout.strip().splitlines()[-1])
    assert len(keys) == 1, keys


# --- 2. outputs written safely -----------------------------------------------------------------------------


def test_a_write_that_fails_midway_leaves_no_file_and_names_it(tmp_path):
    path = tmp_path / "p.csv"

    def write(f, fail=True):
        f.write("node,predicted\n" * 1000)
        if fail:
            raise OSError(errno.EFBIG, "File too large")

    with pytest.raises(OSError, match=rf"^{re.escape(str(path))}: cannot be written \(File too large\)$"):
        write_atomically(path, write, overwrite=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one
    write_atomically(path, lambda f: write(f, fail=False), overwrite=False)  # the rerun is not refused
    assert path.read_text() == "node,predicted\n" * 1000


def test_two_runs_writing_one_output_never_mix(tmp_path):
    """Both write in full; without --overwrite one publishes and the other fails, with it the last wins."""
    for overwrite in (False, True):
        path, barrier, errors = tmp_path / f"out-{overwrite}.csv", threading.Barrier(2), []

        def run(tag):
            def write(f):
                for _ in range(2000):
                    f.write(f"{tag},row\n")
                barrier.wait()  # both files are written before either is renamed

            try:
                write_atomically(path, write, overwrite=overwrite)
            except FileExistsError as error:
                errors.append(str(error))

        threads = [threading.Thread(target=run, args=(tag,)) for tag in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lines = path.read_text().splitlines()
        assert len(lines) == 2000 and len(set(lines)) == 1, overwrite
        assert errors == ([] if overwrite else [f"{path} already exists; pass --overwrite to replace it"])
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


SYMLINK_CASES = ["dangling", "existing", "existing-overwrite"]


@pytest.mark.parametrize("case", SYMLINK_CASES)
def test_outputs_are_never_written_through_a_symlink(tmp_path, capsys, monkeypatch, case):
    import zerog_graph.models

    monkeypatch.setattr(zerog_graph.models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    outside, out = tmp_path / "outside.csv", tmp_path / "out"
    out.mkdir()
    if case != "dangling":
        outside.write_text("keep")
    (out / "g.csv").symlink_to(outside)
    extra = ["--overwrite"] if case.endswith("overwrite") else []
    code, err = run_cli(
        capsys, "predict", "--model", "minilm", "--graph", graph_file(tmp_path), "--output", str(out), *extra
    )
    assert code == 2 and "g.csv is a symlink; an output is never written through one" in err, err
    assert (outside.read_text() == "keep") if case != "dangling" else not outside.exists()
    # the same when the link appears after the check, as the file is written
    with pytest.raises(OSError, match="is a symlink; refused"):
        write_atomically(out / "g.csv", lambda f: f.write("x"), overwrite=bool(extra))
    assert (outside.read_text() == "keep") if case != "dangling" else not outside.exists()


def test_predictions_escape_formulas_for_spreadsheets(tmp_path):
    ids = ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-3", "+4.5", "1e5", "plain"]
    names = ["=cmd|'/c calc'!A0", "@evil", "fine"]
    n = len(ids)
    graph = TextGraph(texts=["t"] * n, edge_index=[], labels=[0, 1] + [-1] * (n - 2), label_names=names, node_ids=ids)
    cosines = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]] * (n // 2))
    result = GraphResult("g", None, None, 0, None, {"confidence_temperature": 0.1}, logits=cosines, cosines=cosines)
    write_predictions(tmp_path / "p.csv", graph, result)
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert [row[0] for row in rows[1:]] == [
        "'=HYPERLINK(1)", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "-3", "+4.5", "1e5", "plain"
    ]  # fmt: skip
    assert [row[1] for row in rows[1:3]] == ["'=cmd|'/c calc'!A0", "'@evil"]
    assert [row[3] for row in rows[1:3]] == ["'=cmd|'/c calc'!A0", "'@evil"]
    assert rows[0][4:] == ["cosine_=cmd|'/c calc'!A0", "cosine_@evil", "cosine_fine"]  # safe behind "cosine_"


# --- 3. limits on what data can make it do -----------------------------------------------------------------


def link_out(folder: Path, name: str, secret: Path):
    (folder / name).unlink()
    (folder / name).symlink_to(secret)


@pytest.mark.parametrize("where", ["zerog-folder", "backbone-folder"])
def test_model_folder_symlinks_that_leave_the_folder_are_refused(saved, tiny_bert, tmp_path, capsys, where):
    secret = tmp_path / "secret.txt"
    secret.write_text(Path(tiny_bert, "vocab.txt").read_text() if Path(tiny_bert, "vocab.txt").exists() else "x")
    folder = copy_of(saved[0] if where == "zerog-folder" else Path(tiny_bert), tmp_path)
    name = "tokenizer.json" if (folder / "tokenizer.json").exists() else "vocab.txt"
    link_out(folder, name, secret)
    message = rf"model/{name} is a symlink to .*secret.txt, outside the model folder"
    with pytest.raises(ValueError, match=message):
        load_model(str(folder))
    code, err = run_cli(capsys, "eval", "--model", str(folder), "--graph", graph_file(tmp_path))
    assert code == 2 and re.search(message, err), err
    args = ["--model_name_or_path", str(folder), "--source_graphs", graph_file(tmp_path), "--max_steps", "1"]
    with pytest.raises(ValueError, match=message):
        train_hf.main(args + ["--output_dir", str(tmp_path / "run"), "--use_cpu", "--report_to", "none"])
    inside = copy_of(saved[0], tmp_path, "inside")  # a link that stays inside is fine
    (inside / "notes.txt").symlink_to(inside / "config.json")
    assert load_model(str(inside)).encode(TEXTS).shape == (3, 64)
    snapshot = tmp_path / "models--org--x" / "snapshots" / ("a" * 40)  # as the Hub cache links: into its blobs
    shutil.copytree(saved[0], snapshot)
    (tmp_path / "models--org--x" / "blobs").mkdir()
    (snapshot / "config.json").rename(tmp_path / "models--org--x" / "blobs" / "0123")
    (snapshot / "config.json").symlink_to(tmp_path / "models--org--x" / "blobs" / "0123")
    assert load_model(str(snapshot)).encode(TEXTS).shape == (3, 64)


def test_a_backbone_with_too_many_layers_is_refused_before_its_weights_load(tiny_bert, tmp_path, monkeypatch):
    from transformers import AutoModel

    folder = copy_of(Path(tiny_bert), tmp_path)
    edit_json(folder / "config.json", num_hidden_layers=1_000_000)
    monkeypatch.setattr(AutoModel, "from_pretrained", lambda *a, **k: pytest.fail("weights were loaded"))
    with pytest.raises(ValueError, match=r"num_hidden_layers=1000000 is over the limit of 256 layers"):
        load_model(str(folder))


@pytest.mark.parametrize("value", ["101", "1000000000", "-1", "x"])
def test_num_rounds_is_checked_by_the_config_for_every_entry_point(tmp_path, value):
    args = ["--model_name_or_path", "minilm", "--source_graphs", "cora", "--output_dir", str(tmp_path / "o")]
    with pytest.raises(ValueError, match=r"--num_rounds must be an integer in \[0, 100\] or 'auto'"):
        train_hf.main(args + ["--num_rounds", value, "--use_cpu", "--report_to", "none"])


DEVICES = ["/dev/null", "/dev/zero"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("form", ["json", "pt", "csv", "labels"])
def test_graph_files_that_are_not_regular_files_are_refused(tmp_path, capsys, device, form):
    if form == "labels":
        (tmp_path / "nodes.csv").write_text("id,text,label\na,x,l\n")
        (tmp_path / "edges.csv").write_text("source,target\n")
        (tmp_path / "labels.txt").symlink_to(device)
        args, where = ["--graph", str(tmp_path), "--labels", str(tmp_path / "labels.txt")], "labels.txt"
    elif form == "csv":
        (tmp_path / "nodes.csv").symlink_to(device)
        (tmp_path / "edges.csv").write_text("source,target\n")
        args, where = ["--graph", str(tmp_path)], "nodes.csv"
    else:
        (tmp_path / f"g.{form}").symlink_to(device)
        args, where = ["--graph", str(tmp_path / f"g.{form}")], f"g.{form}"
    code, err = run_cli(capsys, "eval", "--model", "minilm", *args)
    assert code == 2 and f"{where}: not a regular file" in err, err


def test_texts_are_cut_to_a_character_budget_before_tokenising(saved):
    model = load_model(str(saved[0]))
    seen = []
    tokenizer = model.tokenizer
    real_call = type(tokenizer).__call__

    def spy(self, texts, *args, **kwargs):
        seen.extend([texts] if isinstance(texts, str) else texts)
        return real_call(self, texts, *args, **kwargs)

    huge = "graph " * 2_000_000  # 12 million characters
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(tokenizer), "__call__", spy)
        cut = model.tokenize([huge, "short"], padding=False)
    assert max(len(text) for text in seen) <= CHARS_PER_TOKEN * model.max_length
    whole = tokenizer(huge[: 100 * model.max_length], truncation=True, max_length=model.max_length)["input_ids"]
    assert cut["input_ids"][0] == whole  # the kept tokens are the same


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tiny_bert, tmp_path, capsys):
    from transformers import AutoTokenizer

    folder = copy_of(Path(tiny_bert), tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_tokens(["zerogword1", "zerogword2"])
    tokenizer.save_pretrained(folder)
    with pytest.raises(ValueError, match=r"has 30524 tokens, more than the backbone's 30522 embedding rows"):
        load_model(str(folder))
    code, err = run_cli(capsys, "eval", "--model", str(folder), "--graph", graph_file(tmp_path))
    assert code == 2 and "embedding rows" in err, err


# --- 4. clean failures ---------------------------------------------------------------------------------------


def test_ctrl_c_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    import zerog_graph.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zerog_graph.cli, "run_eval", interrupted)
    try:
        code, err = run_cli(capsys, "eval", "--model", "minilm", "--graph", graph_file(tmp_path))
    except KeyboardInterrupt:  # caught here, or the regression would stop the whole test session
        pytest.fail("Ctrl-C escaped zerog's main as a traceback")
    assert code == 130 and err == "zerog: interrupted\n"
    monkeypatch.setattr(train_hf, "main", interrupted)
    assert train_hf.run([]) == 130 and capsys.readouterr().err == "train_hf.py: interrupted\n"


def test_an_invalid_tokenizer_file_is_named(saved, tmp_path, capsys):
    folder = copy_of(saved[0], tmp_path)
    (folder / "tokenizer.json").write_text("")
    code, err = run_cli(capsys, "eval", "--model", str(folder), "--graph", graph_file(tmp_path))
    assert code == 2 and re.search(r"model/tokenizer.json: not valid JSON \(Expecting value", err), err


@pytest.mark.parametrize("relative", ["..", "../."])
def test_a_relative_backbone_is_read_against_the_saved_folder(saved, tiny_bert, tmp_path, monkeypatch, relative):
    backbone = copy_of(Path(tiny_bert), tmp_path, "backbone")
    folder = copy_of(saved[0], backbone, "zerog")  # the ZeroG folder inside its backbone's folder
    edit_json(folder / "config.json", lm_name_or_path=relative)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    model = load_model(str(folder))
    assert (model.encode(TEXTS) - saved[1]).abs().max() < 1e-5


def test_an_empty_zerog_cache_means_the_default(monkeypatch):
    from zerog_graph.paths import cache_dir

    monkeypatch.setenv("ZEROG_CACHE", "")
    assert cache_dir() == Path.home() / ".cache" / "zerog"


@pytest.mark.slow
def test_labels_under_a_c_locale_are_read_as_utf8(tmp_path):
    assert class_names("caf\udcc3\udca9,th\udcc3\udca9") == ["café", "thé"]
    (tmp_path / "nodes.csv").write_text("id,text,label\na,x,café\nb,y,\n", encoding="utf-8")
    (tmp_path / "edges.csv").write_text("source,target\n", encoding="utf-8")
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    for labels, words in (("café,thé", "no-such-model"), ("café,caf\u00e9s,Café", "'caf\\xe9' and 'Caf\\xe9'")):
        command = [sys.executable, "-m", "zerog_graph", "eval", "--model", str(tmp_path / "no-such-model")]
        result = subprocess.run(
            command + ["--graph", str(tmp_path), "--labels", labels], capture_output=True, env=env, timeout=300
        )
        err = result.stderr.decode("ascii", "replace")
        assert result.returncode == 2 and words in err and "udc" not in err and "Traceback" not in err, err


# --- left open from issue 10 --------------------------------------------------------------------------------


@pytest.fixture
def hub_cache(saved, tmp_path, monkeypatch):
    """An offline Hub cache holding `org/zerog` at two commits (the saved model, and one without its adapter's
    effect); main is the second."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--org--zerog"
    shutil.copytree(saved[0], repo / "snapshots" / ("a" * 40))
    shutil.copytree(saved[0], repo / "snapshots" / ("b" * 40))
    weights = repo / "snapshots" / ("b" * 40) / "adapter" / "adapter_model.safetensors"
    save_file({k: torch.zeros_like(v) if "lora_B" in k else v for k, v in load_file(weights).items()}, weights)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return saved[1]


def test_the_cli_evaluates_a_saved_model_by_its_hub_id(hub_cache, tmp_path, capsys):
    graph = graph_file(tmp_path)
    for model, name in (("org/zerog@" + "a" * 40, "a.json"), ("org/zerog", "main.json")):
        code, err = run_cli(capsys, "predict", "--model", model, "--graph", graph, "--output", str(tmp_path / name))
        assert code == 0, err
    pinned = load_model("org/zerog@" + "a" * 40)
    assert (pinned.encode(TEXTS) - hub_cache).abs().max() < 1e-5  # the pinned commit's adapter
    assert (load_model("org/zerog").encode(TEXTS) - hub_cache).abs().max() > 1e-3  # main's
    code, err = run_cli(capsys, "eval", "--model", "org/zerog@" + "c" * 40, "--graph", graph)
    assert code == 2 and "org/zerog@cccc" in err, err


def test_get_lm_config_never_runs_code(monkeypatch):
    from transformers import AutoConfig

    seen = {}
    monkeypatch.setattr(AutoConfig, "from_pretrained", lambda *a, **k: seen.update(k))
    ZeroGConfig(lm_name_or_path="org/backbone").get_lm_config()
    assert seen["trust_remote_code"] is False


def test_the_model_card_names_no_local_path(tiny_bert):
    from zerog_graph.trainer import model_card

    for lm, base in (
        (tiny_bert, None),
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    ):
        model = SimpleNamespace(config=ZeroGConfig(lm_name_or_path=lm, use_lora=False), pooling_mode="cls")
        training = SimpleNamespace(learning_rate=1e-3, max_steps=1, per_device_train_batch_size=2,
                                   gradient_accumulation_steps=1, seed=0)  # fmt: skip
        card = model_card(model, "m", ["cora"], {}, training, {})
        assert card.data.base_model == base
        assert str(Path(tiny_bert).parent) not in str(card)


def test_options_equal_to_the_defaults_override_a_saved_models_settings(saved, tmp_path, monkeypatch):
    import zerog_graph.models

    folder = copy_of(saved[0], tmp_path)
    edit_json(folder / "config.json", max_seq_length=64, num_rounds=3, standardize=False, pooling_mode="cls")
    seen = {}

    def spy(name_or_path, **kwargs):
        seen.update(kwargs)
        raise ImportError("stop before loading")

    monkeypatch.setattr(zerog_graph.models, "load_model", spy)
    ring = {"texts": [f"node {i}" for i in range(12)], "edges": [[i, (i + 1) % 12] for i in range(12)],
            "labels": [i // 2 % 3 for i in range(12)], "label_names": ["a", "b", "c"]}  # fmt: skip
    (tmp_path / "ring.json").write_text(json.dumps(ring))
    base = ["--model_name_or_path", str(folder), "--source_graphs", str(tmp_path / "ring.json"), "--max_nodes", "4"]
    base += ["--output_dir", str(tmp_path / "o"), "--use_cpu", "--report_to", "none"]
    given = ["--max_seq_length", "512", "--num_rounds", "auto", "--standardize", "true", "--pooling_mode", "auto"]
    with pytest.raises(ImportError):
        train_hf.main(base + given)
    assert {k: seen[k] for k in ("max_seq_length", "num_rounds", "standardize", "pooling_mode")} == {
        "max_seq_length": 512, "num_rounds": "auto", "standardize": True, "pooling_mode": "auto"
    }  # fmt: skip
    seen.clear()
    with pytest.raises(ImportError):
        train_hf.main(base)
    assert not {"max_seq_length", "num_rounds", "standardize", "pooling_mode", "logit_scale"} & set(seen)
