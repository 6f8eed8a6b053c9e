"""What a model folder may make us run or load: no code without `trust_remote_code`, only this
project's code with it, safetensors only, and every Hub option reaching every loader."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoConfig, AutoModel, AutoModelForTextEncoding, AutoTokenizer

import hub_zerog
from configuration_zerog import ZeroGConfig
from modeling_zerog import ZeroGModel
from zerog_graph import MODEL_CODE
from zerog_graph.models import load_model

TEXTS = ["Graph neural networks for citation data.", "A recipe for bread with flour and yeast."]
PAYLOAD = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


@pytest.fixture(scope="module")
def saved_minilm(tmp_path_factory, minilm_path):
    """A saved ZeroG model (MiniLM with a LoRA adapter that matters) and its embeddings of TEXTS."""
    torch.manual_seed(0)
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.1)
    folder = tmp_path_factory.mktemp("saved") / "zerog"
    model.save_pretrained(folder)
    return folder, model.encode(TEXTS)


def copy_of(saved: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    return folder


def edit_json(path: Path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def plant_payload(folder: Path, module: str, class_line: str, marker: Path):
    (folder / f"{module}.py").write_text(PAYLOAD.format(marker=str(marker)) + class_line)


# --- no code from a folder -------------------------------------------------------------------------


def test_config_auto_map_naming_other_code_is_refused(saved_minilm, tmp_path):
    folder, marker = copy_of(saved_minilm[0], tmp_path), tmp_path / "ran"
    plant_payload(
        folder, "evil_config", "from transformers import PretrainedConfig\nclass Evil(PretrainedConfig): pass", marker
    )
    auto_map = {"AutoConfig": "evil_config.Evil", "AutoModel": "modeling_zerog.ZeroGModel"}
    edit_json(folder / "config.json", auto_map=auto_map)
    for trust in (False, True):
        with pytest.raises(ValueError, match=r"config.json: auto_map entry 'AutoConfig': 'evil_config.Evil'"):
            load_model(str(folder), trust_remote_code=trust)
    assert not marker.exists()


def test_tokenizer_auto_map_is_refused_and_never_runs(saved_minilm, tmp_path):
    folder, marker = copy_of(saved_minilm[0], tmp_path), tmp_path / "ran"
    plant_payload(
        folder, "evil_tokenizer", "from transformers import BertTokenizer\nclass Evil(BertTokenizer): pass", marker
    )
    edit_json(folder / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil_tokenizer.Evil", None]})
    with pytest.raises(ValueError, match=r"tokenizer_config.json: auto_map entry 'AutoTokenizer'"):
        load_model(str(folder))
    # Past that check (e.g. AutoModel with trust_remote_code for this project's code), the tokenizer
    # still loads as the backbone's class without running the folder's code, even when named.
    edit_json(folder / "tokenizer_config.json", tokenizer_class="Evil")
    model = ZeroGModel.from_pretrained(str(folder))
    assert not marker.exists()
    assert "Evil" not in type(model.tokenizer).__name__
    assert (model.encode(TEXTS) - saved_minilm[1]).abs().max() < 1e-5


def test_a_saved_folder_holds_every_code_file_and_runs_on_them_alone(saved_minilm, tmp_path):
    """`save_pretrained` copies modeling_zerog.py and every sibling file it imports; AutoModel runs those copies."""
    folder = tmp_path / "every_code_file"  # transformers names the imported copies after the folder: its own name
    shutil.copytree(saved_minilm[0], folder)
    assert sorted(path.stem for path in folder.glob("*.py")) == sorted(MODEL_CODE)
    trusted = load_model(str(folder), trust_remote_code=True)
    code = {name: sys.modules[f"{type(trusted).__module__.rsplit('.', 1)[0]}.{name}"] for name in MODEL_CODE}
    assert all(
        Path(module.__file__).read_bytes() == (folder / f"{name}.py").read_bytes() for name, module in code.items()
    )
    assert (trusted.encode(TEXTS) - saved_minilm[1]).abs().max() < 1e-5


def test_folder_code_runs_only_with_trust_remote_code(saved_minilm, tmp_path):
    """The folder's own copy of modeling_zerog.py runs only when the user passes trust_remote_code."""
    folder, marker = copy_of(saved_minilm[0], tmp_path), tmp_path / "ran"
    code = folder / "modeling_zerog.py"
    code.write_text(PAYLOAD.format(marker=str(marker)) + code.read_text())
    model = load_model(str(folder))
    assert not marker.exists() and type(model) is ZeroGModel
    trusted = load_model(str(folder), trust_remote_code=True)
    assert marker.exists() and type(trusted) is not ZeroGModel and type(trusted).__name__ == "ZeroGModel"
    assert (trusted.encode(TEXTS) - saved_minilm[1]).abs().max() < 1e-5


def test_backbone_folders_never_run_their_code(minilm_path, tmp_path):
    marker = tmp_path / "ran"
    known = tmp_path / "known"  # a BERT folder that also names code: the native class loads, nothing runs
    shutil.copytree(minilm_path, known)
    plant_payload(known, "evil", "from transformers import BertConfig\nclass Evil(BertConfig): pass", marker)
    edit_json(known / "config.json", auto_map={"AutoConfig": "evil.Evil", "AutoModel": "evil.Evil"})
    edit_json(known / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil.Evil", None]})
    assert load_model(str(known)).encode(TEXTS).shape == (2, 384)
    unknown = tmp_path / "qwen"  # Qwen v1: only remote code can load it, so it is refused
    unknown.mkdir()
    plant_payload(
        unknown,
        "configuration_qwen",
        "from transformers import PretrainedConfig\nclass Q(PretrainedConfig): pass",
        marker,
    )
    (unknown / "config.json").write_text(
        json.dumps({"model_type": "qwen", "auto_map": {"AutoConfig": "configuration_qwen.Q"}})
    )
    with pytest.raises(ValueError, match="cannot be loaded without running code from it"):
        load_model(str(unknown))
    with pytest.raises(ValueError, match="cannot be loaded without running code from it"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=str(unknown)))
    assert not marker.exists()


# --- malformed folders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"model_type": "zerog", ', "config.json: not valid JSON"),
        ('[{"model_type": "zerog"}]', "config.json: expected a JSON object, got list"),
        (
            '{"model_type": "zerog", "num_rounds": "2"}',
            "config.json: field 'num_rounds' must be an integer in [0, 100] or 'auto', got '2'",
        ),
        ('{"model_type": "zerog", "num_rounds": 1000000000}', "config.json: field 'num_rounds' must be an integer in"),
        ('{"model_type": "zerog", "max_seq_length": 10000000}', "config.json: max_seq_length must be in [1, 32768]"),
        ('{"model_type": "zerog", "lora_r": 1000000000}', "config.json: lora_r must be in [1, 1024]"),
        ('{"model_type": "zerog", "lora_alpha": NaN}', "config.json: lora_alpha must be a finite number, got nan"),
        ('{"model_type": "zerog", "logit_scale": 1e39}', "config.json: logit_scale must be in [0.01, 100.0]"),
        ('{"model_type": "zerog", "logit_scale": 5e-324}', "config.json: logit_scale must be in [0.01, 100.0]"),
        ('{"model_type": "zerog", "use_lora": "no"}', "config.json: field 'use_lora' must be bool"),
        ('{"model_type": "zerog", "lora_target_modules": [1]}', "config.json: field 'lora_target_modules'"),
        ('{"model_type": "zerog", "pooling_mode": "max"}', "config.json: pooling_mode='max' is not one of"),
    ],
)
def test_malformed_config_names_file_and_field(saved_minilm, tmp_path, content, words):
    folder = copy_of(saved_minilm[0], tmp_path)
    (folder / "config.json").write_text(content)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_model(str(folder))


def test_pickled_adapter_or_backbone_is_refused(saved_minilm, minilm_path, tmp_path):
    folder = copy_of(saved_minilm[0], tmp_path)
    (folder / "adapter" / "adapter_model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, folder / "adapter" / "adapter_model.bin")
    with pytest.raises(OSError, match="no adapter/adapter_model.safetensors.*never from a pickle"):
        load_model(str(folder))
    backbone = tmp_path / "backbone"
    shutil.copytree(minilm_path, backbone, ignore=shutil.ignore_patterns("*.safetensors"))
    torch.save(AutoModel.from_pretrained(minilm_path).state_dict(), backbone / "pytorch_model.bin")
    with pytest.raises(OSError, match="holds no .safetensors weights; pickled weights .* are never loaded"):
        load_model(str(backbone))


# --- pinning a revision pins everything ------------------------------------------------------------


def spy_on(monkeypatch, owner, name: str, calls: dict, label: str):
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.setdefault(label, []).append({**kwargs, "_args": args})
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


@pytest.mark.parametrize("route", ["ZeroGModel", "AutoModel"])
def test_revision_token_and_cache_dir_reach_every_loader(saved_minilm, minilm_path, tmp_path, monkeypatch, route):
    folder = copy_of(saved_minilm[0], tmp_path)
    edit_json(folder / "config.json", lm_name_or_path=minilm_path, lm_revision="backbone-commit")
    calls = {}
    spy_on(monkeypatch, PeftModel, "from_pretrained", calls, "adapter")
    spy_on(monkeypatch, AutoTokenizer, "from_pretrained", calls, "tokenizer")
    spy_on(monkeypatch, AutoConfig, "from_pretrained", calls, "configs")
    spy_on(monkeypatch, AutoModel, "from_pretrained", calls, "models")
    spy_on(monkeypatch, AutoModelForTextEncoding, "from_pretrained", calls, "models")
    spy_on(monkeypatch, ZeroGConfig, "from_pretrained", calls, "zerog config")
    spy_on(monkeypatch, hub_zerog, "cached_file", calls, "files")
    options = {"revision": "zerog-commit", "token": "hf_test", "cache_dir": str(tmp_path / "cache")}
    if route == "AutoModel":
        model = AutoModel.from_pretrained(str(folder), trust_remote_code=True, **options)
    else:
        model = ZeroGModel.from_pretrained(str(folder), **options)
    assert (model.encode(TEXTS) - saved_minilm[1]).abs().max() < 1e-5
    # The adapter's files are fetched with the options (cached_file, below); peft reads that local copy.
    (adapter_folder,) = [Path(call["_args"][1]) for call in calls["adapter"]]
    assert adapter_folder.name == "adapter" and (adapter_folder / "adapter_model.safetensors").is_file()
    own = {"tokenizer"} | ({"zerog config"} if route == "ZeroGModel" else set())
    for label in own:
        for kwargs in calls[label]:
            assert {k: kwargs.get(k) for k in options} == options, label
    # Every load of the backbone (by its path, whatever revision it got) must carry the backbone's own.
    backbone = [kw for label in ("configs", "models") for kw in calls[label] if kw["_args"][:1] == (minilm_path,)]
    assert backbone and all(kw.get("revision") == "backbone-commit" for kw in backbone)
    assert all(kw.get("token") == "hf_test" and kw.get("cache_dir") == options["cache_dir"] for kw in backbone)
    if route == "ZeroGModel":  # AutoModel runs the folder's copy of modeling_zerog, whose cached_file is its own
        fetched = [kw for kw in calls["files"] if kw.get("revision") == "zerog-commit"]
        names = {kw["_args"][1] for kw in fetched}
        assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json"} <= names, names
        assert all(kw.get("token") == "hf_test" and kw.get("cache_dir") == options["cache_dir"] for kw in fetched)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, minilm_path):
    """An offline Hub cache holding `org/zerog` at two commits with different adapters; main is the second."""
    root = tmp_path_factory.mktemp("hub")
    repo, outputs = root / "models--org--zerog", {}
    for seed, commit in enumerate(["a" * 40, "b" * 40]):
        torch.manual_seed(seed)
        model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path))
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.data.normal_(std=0.1)
        model.save_pretrained(repo / "snapshots" / commit)
        outputs[commit] = model.encode(TEXTS)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    # transformers keeps remote code per repository and commit; drop a copy an earlier run left behind.
    from transformers.dynamic_module_utils import HF_MODULES_CACHE

    shutil.rmtree(Path(HF_MODULES_CACHE) / "transformers_modules" / "org", ignore_errors=True)
    return str(root), outputs


def test_a_pinned_revision_loads_that_commit_adapter(hub_cache, minilm_path):
    cache_dir, outputs = hub_cache
    for revision, expected in [("a" * 40, "a" * 40), (None, "b" * 40)]:
        model = ZeroGModel.from_pretrained("org/zerog", revision=revision, cache_dir=cache_dir, lm_path=minilm_path)
        assert (model.encode(TEXTS) - outputs[expected]).abs().max() < 1e-5, revision


def test_automodel_from_the_hub_is_a_zerog_model(hub_cache, minilm_path):
    """AutoModel swaps a Hub repository whose root holds adapter_config.json for the adapter's base
    model before remote code runs; the adapter lives in `adapter/` so that it cannot."""
    cache_dir, outputs = hub_cache
    for revision in ("a" * 40, None):
        model = AutoModel.from_pretrained(
            "org/zerog", trust_remote_code=True, cache_dir=cache_dir, revision=revision, lm_path=minilm_path
        )
        assert type(model).__name__ == "ZeroGModel"
        assert (model.encode(TEXTS) - outputs[revision or "b" * 40]).abs().max() < 1e-5, revision


@pytest.mark.slow
def test_python_m_from_inside_a_model_folder_never_imports_its_code(tmp_path):
    """`python -m zerog_graph` puts the current folder first on sys.path, and every saved model holds
    `configuration_zerog.py` and `modeling_zerog.py`: the installed ones must be imported, not those."""
    import subprocess
    import sys

    marker = tmp_path / "ran"
    for name in [f"{module}.py" for module in MODEL_CODE]:
        (tmp_path / name).write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "zerog_graph", "eval", "--model", ".", "--graph", "absent.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert not marker.exists(), result.stderr[-2000:]
    assert result.returncode == 2 and "ignoring" in result.stderr and "absent.json" in result.stderr


def test_model_folder_faults_exit_2_naming_the_model(saved_minilm, tmp_path, capsys):
    """A model folder that loads but does not fit (a larger LoRA rank than its weights, an adapter from
    before the adapter/ folder, a logit_scale of 0) is refused with exit 2 and a message, no traceback."""
    from zerog_graph import cli

    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"texts": ["a", "b"], "edges": [[0, 1]], "labels": [0, 1], "label_names": ["x", "y"]}))
    rank = copy_of(saved_minilm[0], tmp_path / "rank")
    edit_json(rank / "adapter" / "adapter_config.json", r=8)
    old = copy_of(saved_minilm[0], tmp_path / "old")
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (old / "adapter" / name).rename(old / name)
    scale = copy_of(saved_minilm[0], tmp_path / "scale")
    edit_json(scale / "config.json", logit_scale=0)
    truncated = copy_of(saved_minilm[0], tmp_path / "truncated")
    weights = truncated / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    cases = [(rank, "the adapter cannot be loaded"), (old, "the adapter is at the root"), (scale, "logit_scale")]
    cases += [(truncated, "adapter_model.safetensors: the adapter cannot be loaded")]
    for folder, words in cases:
        assert cli.main(["eval", "--model", str(folder), "--graph", str(graph)]) == 2, folder
        error = capsys.readouterr().err
        assert words in error and str(folder) in error and "Traceback" not in error, error


def test_empty_template_on_a_saved_model_means_no_template(saved_minilm, tmp_path):
    folder = copy_of(saved_minilm[0], tmp_path)
    edit_json(folder / "config.json", template='Text: "{text}"')
    assert load_model(str(folder)).config.template == 'Text: "{text}"'
    assert load_model(str(folder), template="").config.template is None


def test_a_saved_task_template_and_layer_reload_by_both_routes(minilm_path, tmp_path):
    """Templates per kind of text, the pooled layer and the label statistics are saved, and both loaders (this
    project's code, and the folder's own copy under trust_remote_code) embed with them alike."""
    task = 'Categories: {labels}.\nText: "{text}"\nIts category:"'
    config = ZeroGConfig(
        lm_name_or_path=minilm_path, template=task, label_template="{text}", hidden_layer=4, label_statistics="nodes"
    )
    folder = tmp_path / "task"
    ZeroGModel(config).save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    assert (saved["template"], saved["label_template"], saved["hidden_layer"]) == (task, "{text}", 4)
    names = ["databases", "biology"]
    for model in (load_model(str(folder)), load_model(str(folder), trust_remote_code=True)):
        assert (model.config.label_statistics, model.config.templates.description) == ("nodes", task)
        assert torch.allclose(model.encode(TEXTS, labels=names), load_model(str(folder)).encode(TEXTS, labels=names))
    assert load_model(str(folder), template="prompteol").config.label_template != "{text}"  # a name sets all three
