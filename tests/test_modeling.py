"""ZeroGConfig and ZeroGModel: backbone detection, pooling, LoRA, QLoRA, saving and remote code."""

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoConfig, AutoModel

from configuration_zerog import PROMPTEOL_TEMPLATE, ZeroGConfig
from modeling_zerog import (
    LORA_TARGET_MODULES,
    ZeroGModel,
    ZeroGPooling,
    is_decoder_architecture,
    resolve_lora_targets,
    tokenize_texts,
)
from tests.conftest import DECODERS, ENCODERS

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "Graph neural networks for citation data.",
    "A recipe for bread with flour and yeast.",
    "Reinforcement learning agents maximise reward over many long episodes of interaction.",
]


# --- config ------------------------------------------------------------------------------------


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="pooling_mode='max'"):
        ZeroGConfig(pooling_mode="max")
    with pytest.raises(ValueError, match="quantization='3bit'"):
        ZeroGConfig(quantization="3bit")
    with pytest.raises(ValueError, match="exactly once"):
        ZeroGConfig(template="no field here")


def test_config_docstring_documents_every_field():
    import inspect

    fields = [p for p in inspect.signature(ZeroGConfig.__init__).parameters if p not in ("self", "kwargs")]
    for field in fields:
        assert f"    {field} (`" in ZeroGConfig.__doc__, field
    defaults = {p.name: p.default for p in inspect.signature(ZeroGConfig.__init__).parameters.values()}
    assert f"defaults to {defaults['num_rounds']})" in ZeroGConfig.__doc__.split("num_rounds")[1].split("\n")[0]


def test_short_names_resolve_to_hub_ids():
    assert ZeroGConfig(lm_name_or_path="qwen2").lm_name_or_path == "Qwen/Qwen2-7B"
    assert ZeroGConfig(lm_name_or_path="/some/local/folder").lm_name_or_path == "/some/local/folder"


# --- backbone detection, pooling and LoRA targets ------------------------------------------------


@pytest.mark.parametrize("name", DECODERS + ENCODERS)
def test_detection_pooling_and_targets_for_every_architecture(tiny_backbones, name):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones[name]))
    assert model.config.lm_is_decoder == (name in DECODERS)
    assert model.pooling_mode == ("last" if name in DECODERS else "cls")
    assert model.tokenizer.padding_side == ("left" if name in DECODERS else "right")
    assert model.tokenizer.pad_token is not None
    expected = {"gpt2": ["c_attn"]}.get(name, LORA_TARGET_MODULES.get(name))
    assert sorted(model.lm.peft_config["default"].target_modules) == sorted(expected)
    assert model.lm.peft_config["default"].r == (8 if name in DECODERS else 4)
    embeds = model.encode(TEXTS)
    assert embeds.shape == (3, 64) and torch.isfinite(embeds).all()


def test_llama_config_is_not_trusted_for_is_decoder(tiny_backbones):
    lm_config = AutoConfig.from_pretrained(tiny_backbones["llama"])
    assert not getattr(lm_config, "is_decoder", False)  # the flag HF leaves False on Llama
    assert is_decoder_architecture(lm_config)


def test_lora_targets_table_fallbacks_and_user_choice(caplog):
    llama3_by_vocab = SimpleNamespace(model_type="llama", vocab_size=128256, rope_parameters=None)
    assert resolve_lora_targets(llama3_by_vocab) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert resolve_lora_targets(SimpleNamespace(model_type="gemma")) == ["q_proj", "v_proj"]  # peft's map
    with caplog.at_level(logging.WARNING):
        assert resolve_lora_targets(SimpleNamespace(model_type="phi3")) == "all-linear"
    assert "all-linear" in caplog.text
    assert resolve_lora_targets(SimpleNamespace(model_type="llama"), ["gate_proj"]) == ["gate_proj"]


def test_tokenizer_without_pad_or_eos_is_refused(tiny_backbones, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbones["llama"])
    tokenizer.eos_token = None
    tokenizer.save_pretrained(tmp_path)
    AutoModel.from_pretrained(tiny_backbones["llama"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="neither a pad nor an eos token"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=str(tmp_path)))


def test_pooling_uses_the_mask_under_both_paddings():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert ZeroGPooling("last")(hidden, left).flatten().tolist() == [3, 7]
    assert ZeroGPooling("last")(hidden, right).flatten().tolist() == [1, 7]
    assert ZeroGPooling("cls")(hidden, left).flatten().tolist() == [2, 4]
    assert ZeroGPooling("mean")(hidden, right).flatten().tolist() == [0.5, 5.5]


def test_truncation_cuts_the_text_not_the_template(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    template = 'This passage : "{text}" means in one word:"'
    batch = tokenize_texts(tokenizer, ["word " * 100_000, "short"], template, max_length=32)
    decoded = tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    assert batch["input_ids"].shape[1] <= 32
    assert decoded.startswith("this passage") and decoded.endswith('means in one word : "')


# --- real backbones ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return ZeroGModel(ZeroGConfig(lm_name_or_path=smollm2_path, use_lora=False), lm_path=smollm2_path)


def test_smollm2_last_token_is_padding_independent(smollm2):
    text = "Graph neural networks."
    alone = smollm2.encode([text])
    batched = smollm2.encode([text, TEXTS[2] * 3, TEXTS[1]])
    assert smollm2.tokenizer.padding_side == "left"
    smollm2.tokenizer.padding_side = "right"
    try:
        right = smollm2.encode([text, TEXTS[2] * 3])
    finally:
        smollm2.tokenizer.padding_side = "left"
    assert (alone[0] - batched[0]).abs().max() < 1e-4
    assert (alone[0] - right[0]).abs().max() < 1e-4
    assert (batched[0] - batched[2]).abs().max() > 1e-2


def test_first_token_pooling_of_a_decoder_collapses(smollm2):
    """The original ZeroG's `[:, 0, :]` on a causal model: the first token sees only itself, so
    under a template every text gets the same vector. Last-token pooling does not."""
    smollm2.config.template, smollm2.pooling.pooling_mode = PROMPTEOL_TEMPLATE, "cls"
    try:
        first = smollm2.encode(TEXTS)
        smollm2.pooling.pooling_mode = "last"
        last = smollm2.encode(TEXTS)
    finally:
        smollm2.config.template, smollm2.pooling.pooling_mode = None, "last"
    assert (first - first[0]).abs().max() < 1e-5  # every text gets the same vector
    assert torch.cdist(last, last).fill_diagonal_(float("inf")).min() > 1e-2


def test_minilm_cls_matches_the_original_zerog(minilm_path):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, pooling_mode="cls", use_lora=False))
    tokens = model.tokenizer(TEXTS, return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        reference = model.lm(**tokens)[0][:, 0, :]
    assert torch.allclose(model.encode(TEXTS), reference, atol=1e-6)


def test_minilm_auto_pooling_is_the_declared_mean(minilm_path):
    assert ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, use_lora=False)).pooling_mode == "mean"


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_qlora_step_changes_only_lora_weights(smollm2_path, bits):
    pytest.importorskip("bitsandbytes")
    torch.manual_seed(0)
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=smollm2_path, quantization=bits, lora_r=4), lm_path=smollm2_path)
    model.encode(TEXTS)  # an inference pass first must not break the backward (bitsandbytes CPU packing)
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW(trainable, lr=1e-2, weight_decay=0.0)
    batch = model.tokenize(TEXTS[:2])
    embeds = model(**batch).node_embeds
    loss = -torch.nn.functional.cosine_similarity(embeds[0], embeds[1], dim=0)
    loss.backward()
    optimizer.step()
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param.detach())
        if "lora_B" in name:  # B starts at zero, so in the first step only B has a gradient
            assert changed, f"{name} got no update"
        elif "lora_A" not in name:
            assert not changed, f"{name} is not a LoRA weight but changed"


# --- saving and remote code -----------------------------------------------------------------------


def test_save_and_reload_with_trust_remote_code(minilm_path, tmp_path):
    torch.manual_seed(0)
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(std=0.1)  # as if trained, so that the adapter matters
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {
        "config.json",
        "configuration_zerog.py",
        "modeling_zerog.py",
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
    } <= files
    assert not files & {"model.safetensors", "pytorch_model.bin"}
    from safetensors import safe_open

    with safe_open(tmp_path / "adapter_model.safetensors", "pt") as f:
        assert all("lora_" in key for key in f.keys())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_zerog.ZeroGConfig",
        "AutoModel": "modeling_zerog.ZeroGModel",
    }
    reloaded = AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    assert type(reloaded).__name__ == "ZeroGModel"
    assert (reloaded.encode(TEXTS) - model.encode(TEXTS)).abs().max() <= 1e-5
    untrained = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, use_lora=False))
    assert (untrained.encode(TEXTS) - model.encode(TEXTS)).abs().max() > 1e-3


def test_top_level_config_is_the_flagship_and_builds_on_a_tiny_qwen2(tiny_backbones):
    config = AutoConfig.from_pretrained(str(REPO), trust_remote_code=True)
    assert config.lm_name_or_path == "Qwen/Qwen2-7B"
    lm_config = config.get_lm_config()
    assert is_decoder_architecture(lm_config)
    assert resolve_lora_targets(lm_config) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    config.lm_name_or_path, config.quantization = tiny_backbones["qwen2"], None
    model = ZeroGModel(config)
    assert model.pooling_mode == "last"
    assert sorted(model.lm.peft_config["default"].target_modules) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert model.encode(TEXTS).shape == (3, 64)


def test_missing_backbone_offline_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="neither a local folder nor reachable on the Hub"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=str(tmp_path / "nowhere")))
    with pytest.raises(OSError, match="HF_HUB_OFFLINE=1"):
        ZeroGModel(ZeroGConfig(lm_name_or_path="org/not-downloaded-model"))


def test_quantization_without_bitsandbytes_is_a_clear_error(tiny_backbones, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match="needs bitsandbytes"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["llama"], quantization="4bit"))
