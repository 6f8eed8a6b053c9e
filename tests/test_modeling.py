"""ZeroGConfig and ZeroGModel: backbone detection, pooling, LoRA, QLoRA, saving and remote code."""

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from transformers import AutoConfig, AutoModel

from backbone_zerog import LORA_TARGET_MODULES, architecture_name, is_decoder_architecture, resolve_lora_targets
from configuration_zerog import POOLING_MODES, PROMPTEOL_TEMPLATE, ZeroGConfig
from modeling_zerog import ZeroGModel, ZeroGPooling
from tests.helpers import DECODERS, ENCODERS, tiny_config
from tokenization_zerog import load_tokenizer, tokenize_texts
from zerog_graph.backbones import BACKBONES, hub_id
from zerog_graph.models import backbone_config

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
    with pytest.raises(ValueError, match="must contain .{text}. once"):
        ZeroGConfig(template="no field here")
    # 1 / logit_scale is the confidence temperature; beyond [0.01, 100] training saves NaN or confidences overflow
    for scale in (0, -1.0, float("inf"), float("nan"), 1e39, 1e308, 5e-324, 100.5, 0.009):
        with pytest.raises(ValueError, match=r"logit_scale must be in \[0.01, 100.0\]"):
            ZeroGConfig(logit_scale=scale)


def test_config_docstring_documents_every_field():
    import inspect

    fields = [p for p in inspect.signature(ZeroGConfig.__init__).parameters if p not in ("self", "kwargs")]
    for field in fields:
        assert f"    {field} (`" in ZeroGConfig.__doc__, field
    defaults = {p.name: p.default for p in inspect.signature(ZeroGConfig.__init__).parameters.values()}
    documented = ZeroGConfig.__doc__.split("num_rounds")[1].split("\n")[0]
    assert f"defaults to `{json.dumps(defaults['num_rounds'])}`)" in documented


def test_short_names_resolve_to_hub_ids():
    assert hub_id("qwen2") == "Qwen/Qwen2-7B" and hub_id("/some/local/folder") == "/some/local/folder"
    assert ZeroGConfig(lm_name_or_path="Qwen/Qwen2-7B").lm_name_or_path == "Qwen/Qwen2-7B"


def test_short_name_builds_from_the_packaged_copy(minilm_path):
    lm_name, lm_path, lm_config, is_decoder = backbone_config("minilm")
    assert (lm_name, lm_path, is_decoder) == (BACKBONES["minilm"].hub_id, minilm_path, False)
    assert architecture_name(lm_config) == BACKBONES["minilm"].architecture


# --- backbone detection, pooling and LoRA targets ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", DECODERS + ENCODERS)
def test_detection_pooling_and_targets_for_every_architecture(tiny_backbones, name):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones[name]))
    assert model.config.lm_is_decoder == (name in DECODERS) and architecture_name(model.lm.config) == name
    assert model.pooling_mode == ("last" if name in DECODERS else "cls")
    assert model.tokenizer.padding_side == ("left" if name in DECODERS else "right")
    # the tiny decoders' tokenizer has no pad token: it pads with eos; MiniLM's keeps its own [PAD]
    assert model.tokenizer.pad_token == (model.tokenizer.eos_token if name in DECODERS else "[PAD]")
    expected = LORA_TARGET_MODULES.get(name) or TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[name]
    assert sorted(model.lm.peft_config["default"].target_modules) == sorted(expected)
    assert model.lm.peft_config["default"].r == (8 if name in DECODERS else 4)
    embeds = model.encode(TEXTS)
    assert embeds.shape == (3, 64) and torch.isfinite(embeds).all()


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_every_pooling_mode_of_the_config_is_implemented():
    assert ("auto",) + ZeroGPooling.MODES == POOLING_MODES
    assert all(callable(getattr(ZeroGPooling, f"pool_{mode}", None)) for mode in ZeroGPooling.MODES)


def test_lora_table_keeps_only_rows_that_differ_from_peft():
    for name, targets in LORA_TARGET_MODULES.items():
        assert TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(name) != targets, name


@pytest.mark.parametrize("backbone", ["minilm_path", pytest.param("smollm2_path", marks=pytest.mark.slow)])
def test_a_long_text_is_cut_inside_the_text_with_the_template_ids_intact(backbone, request):
    """The cut text's ids are the text's own first ids between the template's prefix and suffix ids, inside
    the tokenizer's special tokens; a text that fits is tokenized with its template as one string."""
    tokenizer = load_tokenizer(request.getfixturevalue(backbone), is_decoder=backbone == "smollm2_path")
    prefix, suffix = PROMPTEOL_TEMPLATE.split("{text}")
    prefix_ids, suffix_ids = (tokenizer(part, add_special_tokens=False)["input_ids"] for part in (prefix, suffix))
    specials = tokenizer("")["input_ids"]  # [CLS] [SEP] for MiniLM, none for SmolLM2
    long_text = "Graph neural networks propagate node features along citation edges. " * 200
    text_ids = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    for max_length in (20, 64, 512):
        ids = tokenize_texts(tokenizer, [long_text, TEXTS[0]], PROMPTEOL_TEMPLATE, max_length, padding=False)
        cut, short = ids["input_ids"]
        room = max_length - len(specials) - len(prefix_ids) - len(suffix_ids)
        middle = prefix_ids + text_ids[:room] + suffix_ids
        start = len(specials) // 2
        assert len(cut) == max_length and cut[start : start + len(middle)] == middle
        assert cut[:start] + cut[start + len(middle) :] == specials
        assert ids["attention_mask"][0] == [1] * max_length
        assert short == tokenizer(PROMPTEOL_TEMPLATE.format(text=TEXTS[0]))["input_ids"]


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


@pytest.mark.slow
def test_smollm2_last_token_is_padding_independent(smollm2, monkeypatch):
    text = "Graph neural networks."
    alone = smollm2.encode([text])
    batched = smollm2.encode([text, TEXTS[2] * 3, TEXTS[1]])
    assert smollm2.tokenizer.padding_side == "left"
    monkeypatch.setattr(smollm2.tokenizer, "padding_side", "right")
    right = smollm2.encode([text, TEXTS[2] * 3])
    assert (alone[0] - batched[0]).abs().max() < 1e-4
    assert (alone[0] - right[0]).abs().max() < 1e-4
    assert (batched[0] - batched[2]).abs().max() > 1e-2


@pytest.mark.slow
def test_first_token_pooling_of_a_decoder_collapses(smollm2, monkeypatch):
    """The original ZeroG's `[:, 0, :]` on a causal model: the first token sees only itself, so
    under a template every text gets the same vector. Last-token pooling does not."""
    monkeypatch.setattr(smollm2.config, "template", PROMPTEOL_TEMPLATE)
    monkeypatch.setattr(smollm2.pooling, "pooling_mode", "cls")
    first = smollm2.encode(TEXTS)
    monkeypatch.setattr(smollm2.pooling, "pooling_mode", "last")
    last = smollm2.encode(TEXTS)
    assert (first - first[0]).abs().max() < 1e-5  # every text gets the same vector
    assert torch.cdist(last, last).fill_diagonal_(float("inf")).min() > 1e-2


def test_minilm_cls_matches_the_original_zerog(minilm_path):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, pooling_mode="cls", use_lora=False))
    tokens = model.tokenizer(TEXTS, return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        reference = model.lm(**tokens)[0][:, 0, :]
    assert torch.allclose(model.encode(TEXTS), reference, atol=1e-6)


def test_post_init_keeps_the_loaded_weights_and_the_config(minilm_path):
    """`post_init` would redraw LoRA's zero B matrices and delete `config.gradient_checkpointing`."""
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, gradient_checkpointing=True))
    lora_b = [param for name, param in model.lm.named_parameters() if "lora_B" in name]
    assert lora_b and all(not param.any() for param in lora_b)
    assert model.config.gradient_checkpointing is True and model.config.to_dict()["gradient_checkpointing"] is True
    backbone = AutoModel.from_pretrained(minilm_path)
    weights = {name.replace(".base_layer", ""): p for name, p in model.lm.get_base_model().named_parameters()}
    assert all(torch.equal(weights[name], param) for name, param in backbone.named_parameters())


def test_minilm_auto_pooling_is_the_declared_mean(minilm_path):
    assert ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, use_lora=False)).pooling_mode == "mean"


@pytest.mark.slow
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
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert {
        "config.json",
        "configuration_zerog.py",
        "modeling_zerog.py",
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "tokenizer.json",
    } <= files
    # Nothing at the root that AutoModel would take for the weights or for a bare adapter.
    assert not files & {"model.safetensors", "pytorch_model.bin", "adapter_config.json"}
    from safetensors import safe_open

    with safe_open(tmp_path / "adapter" / "adapter_model.safetensors", "pt") as f:
        assert all("lora_" in key for key in f.keys())
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["pooling_mode"], config["lora_r"]) == ("mean", 4)  # resolved, not re-derived on reload
    assert config["auto_map"] == {
        "AutoConfig": "configuration_zerog.ZeroGConfig",
        "AutoModel": "modeling_zerog.ZeroGModel",
    }
    reloaded = AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    assert type(reloaded).__name__ == "ZeroGModel"
    assert (reloaded.encode(TEXTS) - model.encode(TEXTS)).abs().max() <= 1e-5
    untrained = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, use_lora=False))
    assert (untrained.encode(TEXTS) - model.encode(TEXTS)).abs().max() > 1e-3


@pytest.mark.slow
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


@pytest.mark.slow
def test_quantization_without_bitsandbytes_is_a_clear_error(tiny_backbones, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match="needs bitsandbytes"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["llama"], quantization="4bit"))


# --- pooling declarations (sentence-transformers) --------------------------------------------------


def st_checkpoint(folder: Path, minilm_path: str, pooling: dict, after: tuple = ()) -> str:
    """A copy of the MiniLM folder whose modules.json names `pooling` in a non-default folder, followed
    by the modules in `after` (type names)."""
    folder.mkdir()
    for source in Path(minilm_path).iterdir():
        if source.is_file() and source.name != "modules.json":
            (folder / source.name).symlink_to(source)
    (folder / "my_pooling").mkdir()
    (folder / "my_pooling" / "config.json").write_text(json.dumps(pooling))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.Transformer"},
        {"idx": 1, "name": "1", "path": "my_pooling", "type": "sentence_transformers.sentence_transformer.Pooling"},
    ]
    modules += [
        {"idx": 2 + i, "name": kind, "path": f"{2 + i}_{kind}", "type": f"st.{kind}"} for i, kind in enumerate(after)
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    return str(folder)


@pytest.mark.parametrize("mode", ["mean", "cls", "lasttoken"])
def test_new_style_pooling_in_the_folder_modules_json_names(minilm_path, tmp_path, mode):
    folder = st_checkpoint(tmp_path / "st", minilm_path, {"embedding_dimension": 384, "pooling_mode": mode})
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=folder, use_lora=False))
    assert model.pooling_mode == {"lasttoken": "last"}.get(mode, mode)


def test_old_style_pooling_and_skipped_normalize_noted_at_info(minilm_path, caplog):
    """The packaged MiniLM: `pooling_mode_mean_tokens` and a Normalize module after pooling, which changes
    no cosine and so is noted at info level, never as a warning. Our embeddings, once normalised, are
    sentence-transformers' own."""
    from sentence_transformers import SentenceTransformer

    with caplog.at_level(logging.INFO, logger="transformers"):  # as TRANSFORMERS_VERBOSITY=info sets it
        model = ZeroGModel(ZeroGConfig(lm_name_or_path=minilm_path, use_lora=False))
    assert model.pooling_mode == "mean"
    notes = [r for r in caplog.records if "'2_Normalize' (Normalize) after pooling is not applied" in r.message]
    assert [r.levelno for r in notes] == [logging.INFO]
    assert "harmless for a cosine score" in notes[0].message
    reference = SentenceTransformer(minilm_path, device="cpu").encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(torch.nn.functional.normalize(model.encode(TEXTS), dim=-1), reference, atol=1e-5)


def test_dense_after_pooling_warns(minilm_path, tmp_path, caplog):
    folder = st_checkpoint(tmp_path / "st", minilm_path, {"pooling_mode": "mean"}, after=("Dense", "Normalize"))
    with caplog.at_level(logging.INFO, logger="transformers"):
        ZeroGModel(ZeroGConfig(lm_name_or_path=folder, use_lora=False))
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "(Dense) after pooling is not applied; embeddings are the pooled backbone states" in m for m in warnings
    )
    assert "(Normalize) after pooling is not applied" in caplog.text


@pytest.mark.parametrize(
    "pooling, modules_path, words",
    [
        ({"pooling_mode": "max"}, "my_pooling", "declares pooling ['max'], which ZeroG does not implement"),
        ({"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, "my_pooling", "['mean', 'max']"),
        ({"pooling_mode": "mean"}, "../my_pooling", "has path '../my_pooling', not a relative folder"),
    ],
)
def test_undeclarable_pooling_is_an_error(minilm_path, tmp_path, pooling, modules_path, words):
    folder = Path(st_checkpoint(tmp_path / "st", minilm_path, pooling))
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["path"] = modules_path
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match=re.escape(words)):
        ZeroGModel(ZeroGConfig(lm_name_or_path=str(folder), use_lora=False))


def test_mean_pooling_sums_in_fp32():
    torch.manual_seed(0)
    hidden = (torch.randn(2, 400, 8) * 10 + 100).to(torch.bfloat16)
    mask = torch.ones(2, 400, dtype=torch.long)
    mask[1, 300:] = 0
    pooled = ZeroGPooling("mean")(hidden, mask)
    values = hidden.float()
    expected = torch.stack([values[0].mean(0), values[1, :300].mean(0)])
    assert pooled.dtype == torch.float32
    assert torch.allclose(pooled, expected, rtol=0, atol=1e-4)
    in_bf16 = (hidden * mask.unsqueeze(-1).to(hidden.dtype)).sum(1) / mask.sum(1, keepdim=True).to(hidden.dtype)
    assert (in_bf16.float() - expected).abs().max() > 1e-2  # what summing in bf16 gives


@pytest.mark.parametrize("mode", ["max", "auto", "weightedmean"])
def test_pooling_module_validates_its_mode(mode):
    with pytest.raises(ValueError, match=re.escape(f"pooling_mode={mode!r} is not one of ('last', 'cls', 'mean')")):
        ZeroGPooling(mode)


# --- what the model refuses ------------------------------------------------------------------------


@pytest.mark.slow
def test_decoder_without_lora_is_frozen_and_refuses_full_fine_tuning(tiny_backbones):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["llama"], use_lora=False))
    assert not any(param.requires_grad for param in model.parameters())
    model.train()  # frozen: allowed
    assert model.encode(TEXTS).shape == (3, 64)  # inference without LoRA stays allowed
    model.lm.requires_grad_(True)
    with pytest.raises(ValueError, match="Full fine-tuning of a decoder is refused"):
        model.train()
    batch = model.tokenize(TEXTS)
    with pytest.raises(ValueError, match="ZeroG trains decoders through LoRA only"):
        model(**batch)  # still in training mode from __init__, with gradients
    model.eval()
    assert model(**batch).node_embeds.shape == (3, 64)


@pytest.mark.slow
def test_lora_decoder_refuses_unfrozen_base_weights(tiny_backbones):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["qwen2"]))
    model.train()
    model.lm.get_base_model().embed_tokens.weight.requires_grad_(True)
    with pytest.raises(ValueError, match=r"\(1 backbone tensors require grad, e.g. .*embed_tokens.weight\)"):
        model.train()


@pytest.mark.slow
def test_encoder_without_lora_is_frozen_but_may_be_fully_fine_tuned(tiny_backbones):
    model = ZeroGModel(ZeroGConfig(lm_name_or_path=tiny_backbones["bert"], use_lora=False))
    assert not any(param.requires_grad for param in model.parameters())
    model.lm.requires_grad_(True)
    model.train()
    loss = model(**model.tokenize(TEXTS)).node_embeds.square().mean()
    loss.backward()
    assert all(param.grad is not None for param in model.lm.encoder.parameters())


def out_of_scope_configs():
    import transformers as tf

    dense = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=512)
    return {
        "mixtral": (tf.MixtralConfig(**dense, num_key_value_heads=2), "mixture-of-experts model (num_experts=8"),
        "qwen2_moe": (tf.Qwen2MoeConfig(**dense, num_key_value_heads=2), "mixture-of-experts model (num_experts=60)"),
        "qwen3_moe": (tf.Qwen3MoeConfig(**dense, num_key_value_heads=2), "mixture-of-experts model"),
        "llava": (tf.LlavaConfig(), "(llava) is multimodal (its config has vision_config)"),
        "qwen2_vl": (tf.Qwen2VLConfig(), "(qwen2_vl) is multimodal (its config has vision_config)"),
    }


@pytest.mark.parametrize("name", ["mixtral", "qwen2_moe", "qwen3_moe", "llava", "qwen2_vl"])
def test_moe_and_multimodal_backbones_are_refused_with_the_reason(tmp_path, name):
    from zerog_graph.models import load_model

    lm_config, words = out_of_scope_configs()[name]
    lm_config.save_pretrained(tmp_path)  # the config alone: the refusal comes before any weight loads
    with pytest.raises(ValueError, match=re.escape(words)) as refused:
        ZeroGModel(ZeroGConfig(lm_name_or_path=str(tmp_path)))
    assert "out of scope" in str(refused.value)
    with pytest.raises(ValueError, match="out of scope"):
        load_model(str(tmp_path))


def test_dense_configs_are_in_scope():
    from backbone_zerog import check_backbone_in_scope

    for name in DECODERS + ENCODERS:
        check_backbone_in_scope(tiny_config(name, 512), name)
