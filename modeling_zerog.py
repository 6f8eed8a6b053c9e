"""ZeroG: zero-shot node classification on text-attributed graphs with any text backbone.

Data flow: texts -> backbone -> pooling -> (prompt node + propagation) -> cosine scores -> loss.
Read top to bottom: pooling, outputs, the pretrained base, `ZeroGModel`. Its steps live in sibling files that
travel to the Hub with it and import only torch, transformers and peft: `backbone_zerog` (loading, LoRA),
`tokenization_zerog` (texts to ids, batches), `sentence_transformers_zerog` (declared pooling), `hub_zerog`
(a folder's files) and `propagation_zerog` (the graph maths).
"""

import os
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.dynamic_module_utils import custom_object_save
from transformers.utils import ModelOutput, logging
from transformers.utils.hub import hf_api

try:
    from .backbone_zerog import backbone_hub_kwargs, check_hidden_layer, is_decoder_architecture, load_backbone
    from .checks_zerog import (
        check_class_names,
        check_device,
        check_finite,
        check_flag,
        check_label_texts,
        check_not_all_blank,
        check_positive_int,
        check_texts,
        edge_index_from,
        loading_options,
        refuse_unknown_kwargs,
        sentence_transformers_options,
    )
    from .configuration_zerog import POOLING, SUBGRAPH_ROUNDS, ZeroGConfig, check_num_rounds, filled_template
    from .hub_zerog import ADAPTER_SUBFOLDER, one_line, portable_name, saved_folder_backbone
    from .propagation_zerog import score_graph, zerog_logits
    from .sentence_transformers_zerog import resolve_pooling
    from .tokenization_zerog import (
        TOKENIZE_VERSION,
        TOKENIZE_WINDOW,
        length_order,
        load_tokenizer,
        pad_batch,
        tokenize_texts,
    )
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from backbone_zerog import backbone_hub_kwargs, check_hidden_layer, is_decoder_architecture, load_backbone
    from checks_zerog import (
        check_class_names,
        check_device,
        check_finite,
        check_flag,
        check_label_texts,
        check_not_all_blank,
        check_positive_int,
        check_texts,
        edge_index_from,
        loading_options,
        refuse_unknown_kwargs,
        sentence_transformers_options,
    )
    from configuration_zerog import POOLING, SUBGRAPH_ROUNDS, ZeroGConfig, check_num_rounds, filled_template
    from hub_zerog import ADAPTER_SUBFOLDER, one_line, portable_name, saved_folder_backbone
    from propagation_zerog import score_graph, zerog_logits
    from sentence_transformers_zerog import resolve_pooling
    from tokenization_zerog import (
        TOKENIZE_VERSION,
        TOKENIZE_WINDOW,
        length_order,
        load_tokenizer,
        pad_batch,
        tokenize_texts,
    )

# Under transformers' logger (also as remote code, where this module is `transformers_modules.<repo>...`), so
# that `TRANSFORMERS_VERBOSITY` and `transformers.logging.set_verbosity_*` decide what is shown.
logger = logging.get_logger("transformers.modeling_zerog")
# Options of the Hub download that a ZeroG repository's files (config, adapter, tokenizer) load with.
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only")
# What `AutoModel.from_pretrained` adds to a remote-code model's `from_pretrained` keywords: read (the Hub options
# above) or, here, ignored: ZeroG's adapter and code load with the repository's own options.
AUTO_MODEL_KWARGS = ("_from_auto", "trust_remote_code", "adapter_kwargs", "code_revision")
# Download options that AutoModel passes with these defaults; another value is refused (ZeroG does not apply it).
UNSUPPORTED_HUB_KWARGS = {"force_download": False, "proxies": None, "subfolder": ""}
# transformers' `save_pretrained` keywords about the model's weights: a ZeroG folder holds none of the backbone's
# (the adapter is always safetensors), so they change nothing here; the Trainer passes `state_dict`.
WEIGHTS_SAVE_KWARGS = ("state_dict", "max_shard_size", "variant", "save_peft_format", "save_original_format")
# `save_pretrained(..., push_to_hub=True)`: the upload's options, as transformers' own `save_pretrained` takes them.
PUSH_KWARGS = ("repo_id", "private", "commit_message", "commit_description", "create_pr")


def check_movable(device, config: ZeroGConfig) -> None:
    """Refuses to move a model whose backbone is quantised: bitsandbytes places it, and it is not moved."""
    if device is not None and config.quantization is not None:
        raise ValueError(f"device={str(device)!r}: a quantised backbone is placed by bitsandbytes, not moved")


ADAPTER_README = """# LoRA adapter of a ZeroG model

The LoRA adapter (peft) of the ZeroG model in the folder above, on the backbone `{backbone}`.
It is not a model on its own: load the whole repository with
`AutoModel.from_pretrained(<repository>, trust_remote_code=True)`, which loads the backbone
from its own source and this adapter onto it.
"""


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


class ZeroGPooling(nn.Module):
    """Pools token states into one vector per text, using the attention mask in every mode.

    `last` takes each row's last real token and `cls` its first, so both are right under left
    and right padding. `mean` averages the real tokens, summing in float32 whatever the compute
    dtype (as sentence-transformers does), and returns float32.
    """

    MODES = tuple(mode for mode in POOLING if mode != "auto")  # "auto" is resolved before (`resolve_pooling`)

    def __init__(self, pooling_mode: str):
        super().__init__()
        if pooling_mode not in self.MODES:
            raise ValueError(f"pooling_mode={pooling_mode!r} is not one of {self.MODES}")
        self.pooling_mode = pooling_mode

    def forward(self, token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"pool_{self.pooling_mode}")(token_embeddings, attention_mask)

    @staticmethod
    def pool_mean(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)  # 0 or 1: exact in any dtype
        total = (token_embeddings * mask).sum(1, dtype=torch.float32)
        return total / mask.sum(1, dtype=torch.float32).clamp(min=1e-9)

    @staticmethod
    def pool_last(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = token_positions(attention_mask)
        return take_rows(token_embeddings, positions.masked_fill(attention_mask == 0, -1).argmax(-1))

    @staticmethod
    def pool_cls(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = token_positions(attention_mask)
        return take_rows(token_embeddings, positions.masked_fill(attention_mask == 0, positions.size(1)).argmin(-1))


def token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """`[B, T]`: each token's position in its row."""
    batch_size, seq_len = attention_mask.shape
    return torch.arange(seq_len, device=attention_mask.device).expand(batch_size, -1)


def take_rows(token_embeddings: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`[B, H]`: the state at position `index[b]` of each row `b`."""
    rows = torch.arange(token_embeddings.size(0), device=token_embeddings.device)
    return token_embeddings[rows, index]


# ---------------------------------------------------------------------------------------------
# Outputs and models
# ---------------------------------------------------------------------------------------------


@dataclass
class ZeroGOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is given):
            Cross-entropy of the scaled node-label cosine similarities.
        logits (`torch.FloatTensor` of shape `(num_nodes, num_labels)`, *optional*):
            Cosine similarities after propagation; `-inf` across graphs.
        node_embeds (`torch.FloatTensor` of shape `(num_nodes, hidden_size)`):
            Pooled embeddings of the node texts, before propagation.
        label_embeds (`torch.FloatTensor` of shape `(num_labels, hidden_size)`, *optional*):
            Pooled embeddings of the label texts.
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    node_embeds: Optional[torch.FloatTensor] = None
    label_embeds: Optional[torch.FloatTensor] = None


@dataclass
class ZeroGClassification(ModelOutput):
    """
    What `ZeroGModel.classify` returns for one graph.

    Args:
        predictions (`torch.LongTensor` of shape `(num_nodes,)`):
            The predicted class of each node, an index into `class_names`.
        scores (`torch.FloatTensor` of shape `(num_nodes, num_classes)`):
            The cosine similarity of each node's propagated embedding with each class's label embedding, after
            standardisation: what the model ranks the classes by (`predictions` is its argmax), in [-1, 1].
        predicted_classes (`list[str]`):
            The name of each node's predicted class.
        class_names (`list[str]`):
            The classes, in the order of the columns of `scores`.
        num_rounds (`int`):
            The propagation rounds R used (chosen from the graph when `num_rounds="auto"`).
    """

    predictions: Optional[torch.LongTensor] = None
    scores: Optional[torch.FloatTensor] = None
    predicted_classes: Optional[list] = None
    class_names: Optional[list] = None
    num_rounds: Optional[int] = None


class ZeroGPreTrainedModel(PreTrainedModel):
    config_class = ZeroGConfig
    base_model_prefix = "zerog"
    supports_gradient_checkpointing = True
    # `forward` returns the mean loss over a batch's labelled nodes and ignores `num_items_in_batch`, so the
    # Trainer must divide by the accumulation steps itself: an accumulated step averages its micro-batch means.
    accepts_loss_kwargs = False
    # How texts become ids (`tokenization_zerog.TOKENIZE_VERSION`): part of the embedding cache's keys.
    tokenize_version = TOKENIZE_VERSION

    def _init_weights(self, module):
        """The wrapper has no weights of its own; the backbone keeps its pretrained ones."""

    def init_weights(self):
        """Nothing to initialise or tie (`post_init` calls this): the backbone arrives with its pretrained weights
        and LoRA with its own initialisation (B = 0), which transformers' backbone `_init_weights` would redraw."""

    def _backward_compatibility_gradient_checkpointing(self):
        """Kept out of `post_init`: `config.gradient_checkpointing` is ZeroG's own field, which `load_backbone`
        applies to the backbone and a saved config keeps; transformers would delete it from the config."""


class ZeroGModel(ZeroGPreTrainedModel):
    """A text backbone with pooling, and the ZeroG loss over subgraphs when graph inputs are given.

    The backbone's weights load from `config.lm_name_or_path` (or `lm_path`, a local copy); a saved
    ZeroG model holds only its config, code, tokenizer and LoRA adapter.

    Unlike most transformers models, `__init__` loads weights and writes into `config`: this is a remote-code
    wrapper of a separately hosted backbone. A ZeroG repository holds no backbone weights for
    `from_pretrained` to fill in, so the backbone (and the adapter, when `adapter_path` is given) loads from
    its own source here. What loading resolves (the backbone's config, decoder or not, the pooling mode, the
    LoRA rank) is written into `config`, so that a saved model never re-derives it. `post_init()` ends it, as
    in transformers' models, with weight initialisation left out (`init_weights`).
    """

    def __init__(
        self,
        config: ZeroGConfig,
        lm_path: Optional[str] = None,
        adapter_path: Optional[str] = None,
        tokenizer_path: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        hub_kwargs: Optional[dict] = None,
        lm_config=None,
    ):
        r"""
        Args:
            lm_path (`str`, *optional*): a local copy of the backbone, used instead of `config.lm_name_or_path`.
            adapter_path (`str`, *optional*): a folder or Hub repository holding the LoRA adapter.
            tokenizer_path (`str`, *optional*): a folder or Hub repository holding the tokenizer.
            dtype (`torch.dtype`, *optional*): the backbone's dtype (default float32).
            hub_kwargs (`dict`, *optional*): `revision`, `token`, `cache_dir`, `local_files_only` of the
                adapter's and tokenizer's repository; the backbone gets them too, with `config.lm_revision`.
            lm_config (`PretrainedConfig`, *optional*): the backbone's config, where the caller has loaded it.

        The resolved pooling mode and LoRA rank are written into `config`, so a saved model keeps them.
        """
        super().__init__(config)
        hub_kwargs = hub_kwargs or {}
        self.lm_path = lm_path
        self.lm = load_backbone(config, lm_path, adapter_path, dtype, hub_kwargs, lm_config)
        lm_config = self.lm.config
        skipped = ("quantization_config", "transformers_version")
        config.lm_config = {k: v for k, v in lm_config.to_dict().items() if not k.startswith("_") and k not in skipped}
        if config.lm_is_decoder is None:
            config.lm_is_decoder = is_decoder_architecture(lm_config)
        check_hidden_layer(config.hidden_layer, lm_config, config.lm_name_or_path)
        lm_kwargs = backbone_hub_kwargs(config, lm_path, hub_kwargs)
        self.pooling = ZeroGPooling(resolve_pooling(config, config.lm_is_decoder, lm_path, **lm_kwargs))
        config.pooling_mode = self.pooling.pooling_mode
        if config.use_lora:
            config.lora_r = self.lm.peft_config["default"].r
        self.tokenizer = load_tokenizer(
            tokenizer_path or lm_path or config.lm_name_or_path,
            config.lm_is_decoder,
            lm_config,
            **(hub_kwargs if tokenizer_path else lm_kwargs),
        )
        rows = self.lm.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > rows:
            raise ValueError(
                f"The tokenizer of {tokenizer_path or lm_path or config.lm_name_or_path!r} has {len(self.tokenizer)} "
                f"tokens, more than the backbone's {rows} embedding rows: ids past {rows - 1} have no embedding "
                f"(tokens added without resizing the embeddings); refused"
            )
        self.post_init()

    def check_trainable(self):
        """Refuses full fine-tuning of a decoder: in training, its only trainable weights may be LoRA's."""
        if not self.config.lm_is_decoder:
            return
        full = [name for name, param in self.lm.named_parameters() if param.requires_grad and "lora_" not in name]
        if full:
            raise ValueError(
                f"Full fine-tuning of a decoder is refused ({len(full)} backbone tensors require grad, e.g. "
                f"{full[0]}): ZeroG trains decoders through LoRA only (use_lora=True). For inference without "
                f"LoRA, keep the backbone frozen (model.lm.requires_grad_(False))."
            )

    def train(self, mode: bool = True):
        """As `nn.Module.train`, after `check_trainable`; and 4-bit layers stay in training mode:
        bitsandbytes (0.50) repacks 4-bit weights in place for CPU inference when such a layer runs in
        eval mode, and packed weights have no backward, so LoRA would get zero gradients afterwards.
        They hold no dropout."""
        if mode:
            self.check_trainable()
        super().train(mode)
        if self.config.quantization == "4bit":
            for module in self.lm.modules():
                if getattr(getattr(module, "weight", None), "quant_state", None) is not None:
                    module.training = True
        return self

    @property
    def pooling_mode(self) -> str:
        return self.pooling.pooling_mode

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled backbone states (of `config.hidden_layer`), one row per text."""
        if self.config.hidden_layer == -1:
            hidden = self.lm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        else:
            outputs = self.lm(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            hidden = outputs.hidden_states[self.config.hidden_layer]
        return self.pooling(hidden, attention_mask)

    def tokenize(
        self,
        texts: list,
        padding=True,
        max_length: Optional[int] = None,
        kind: str = "node",
        labels: Optional[list] = None,
        description: Optional[str] = None,
        template=None,
    ):
        """Tokenize texts of one `kind` ("node", "label" or "description") with its template, filled with the
        graph's class names `labels` and `description` where it uses them (or with `template`, already filled:
        `filled_template`), at the config's max length (or a shorter `max_length`)."""
        max_length = self.max_length if max_length is None else min(max_length, self.max_length)
        if template is None:
            template = filled_template(self.config.templates, kind, labels, description)
        return tokenize_texts(self.tokenizer, list(texts), template, max_length, padding)

    @property
    def max_length(self) -> int:
        limit = getattr(self.lm.config, "max_position_embeddings", None) or self.config.max_seq_length
        return min(self.config.max_seq_length, limit)

    def encode_batches(
        self,
        texts: list,
        batch_size: int = 32,
        max_length: Optional[int] = None,
        template=None,
        window: Optional[int] = None,
        share: tuple = (0, 1),
    ):
        """Yields `(rows, embeds)`: the float32 embeddings of `texts[rows]` (distinct texts), each batch checked
        finite. The one encode loop, of `encode` and of `zerog_graph.cache`.

        Texts go longest first by characters, in batches of `batch_size`; with `share=(p, P)` this process takes
        batches `p, p + P, ...` of them (an even share of long and short texts). They are tokenized `window` (default
        `TOKENIZE_WINDOW`) batches at a time, in one call of the fast tokenizer (which uses every core), and batched
        within that window by token count, longest first, so that batches pad little: memory holds one window's
        token ids whatever the number of texts, and a window's batches depend on its texts alone. `template` is the
        filled template of every text (`filled_template`)."""
        device, window = next(self.lm.parameters()).device, window or TOKENIZE_WINDOW
        name = self.name_or_path or self.config.lm_name_or_path
        order = length_order(texts)
        process, processes = share
        mine = [order[start : start + batch_size] for start in range(0, len(order), batch_size)][process::processes]
        order = torch.cat(mine) if mine else order[:0]
        for start in range(0, len(order), batch_size * window):
            rows = order[start : start + batch_size * window]
            ids = self.tokenize([texts[i] for i in rows], False, max_length, template=template)["input_ids"]
            by_length = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
            for offset in range(0, len(by_length), batch_size):
                chosen = by_length[offset : offset + batch_size]
                batch = pad_batch({"input_ids": [ids[i] for i in chosen]}, self.tokenizer)
                embeds = self.embed(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu()
                check_finite(embeds, name, self.config.lm_name_or_path)
                yield rows[chosen], embeds

    @torch.inference_mode()
    def encode(
        self,
        texts: Union[str, list],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        max_length: Optional[int] = None,
        kind: str = "node",
        labels: Optional[list] = None,
        description: Optional[str] = None,
        prompt: Optional[str] = None,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = False,
        device: Optional[Union[str, torch.device]] = None,
        convert_to_tensor: bool = False,
        precision: str = "float32",
        output_value: str = "sentence_embedding",
    ):
        """Embeds texts as sentence-transformers' `encode` does: a list gives `[len(texts), hidden_size]`, one string
        gives one `[hidden_size]` vector; float32, a tensor or (`convert_to_numpy`) a numpy array.

        Each distinct text is encoded once, in batches of similar length (longest first), tokenized a window of
        batches at a time (`encode_batches`). `prompt` is put before every text (inside the template);
        `normalize_embeddings` gives unit vectors; `device` moves the model there first. `max_length` cuts the texts
        shorter than the config's `max_seq_length`; `kind`, `labels` and `description` choose and fill the template
        (`tokenize`). `convert_to_tensor`, `precision` and `output_value` are sentence-transformers' (float32 sentence
        embeddings only). Every argument is checked before the model moves or runs."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if bad is not None:
            raise TypeError(f"texts[{bad}] is {type(texts[bad]).__name__}, not str")
        texts, labels = check_texts(texts, "texts"), None if labels is None else check_texts(labels, "labels")
        check_texts([text for text in (prompt, description) if text is not None], "prompt and description")
        batch_size = check_positive_int(batch_size, "batch_size")
        check_flag(normalize_embeddings, "normalize_embeddings"), check_flag(show_progress_bar, "show_progress_bar")
        max_length = None if max_length is None else check_positive_int(max_length, "max_length")
        as_numpy = sentence_transformers_options(convert_to_numpy, convert_to_tensor, precision, output_value)
        if prompt is not None:
            texts = [prompt + text for text in texts]
        if device is not None:
            self.to(check_device(device))
        was_training = self.training
        self.eval()
        distinct = list(dict.fromkeys(texts))
        template = filled_template(self.config.templates, kind, labels, description)
        embeds = torch.empty(len(distinct), self.lm.config.hidden_size)
        batches = self.encode_batches(distinct, batch_size, max_length, template)
        if show_progress_bar:
            batches = logging.tqdm(batches, desc="encode", unit="batch", total=-(-len(distinct) // batch_size))
        try:
            for rows, batch in batches:
                embeds[rows] = batch
        finally:
            self.train(was_training)
        if len(distinct) < len(texts):
            position = {text: i for i, text in enumerate(distinct)}
            embeds = embeds[torch.tensor([position[text] for text in texts], dtype=torch.long)]
        if normalize_embeddings:
            embeds = F.normalize(embeds, dim=-1)
        embeds = embeds[0] if single else embeds
        return embeds.numpy() if as_numpy else embeds

    @torch.inference_mode()
    def classify(
        self,
        texts: list,
        edge_index,
        class_names: list,
        description: Optional[str] = None,
        label_texts: Optional[list] = None,
        num_rounds: Optional[Union[int, str]] = None,
        directed: bool = False,
        batch_size: int = 32,
    ) -> ZeroGClassification:
        """Zero-shot node classification of one graph: each node's text, the edges and the class names in, each
        node's class out. Needs nothing beyond this file (a model loaded with `AutoModel` alone classifies).

        Args:
            texts (`list[str]`): the text of each node.
            edge_index: a `[2, E]` integer tensor of node indices (PyG's layout) or a list of `(i, j)` pairs;
                made two-way unless `directed`.
            class_names (`list[str]`): the classes, filling the templates' `{labels}`.
            description (`str`, *optional*): what the graph is, the prompt node's text (default: empty).
            label_texts (`list[str]`, *optional*): the text embedded for each class (default: its name, `_` as
                a space).
            num_rounds (`int` or `"auto"`, *optional*): propagation rounds R (default: the config's); `"auto"`
                chooses R from the graph, without labels (`choose_rounds`).

        The embeddings come from `encode`, the scores from `score_graph` with the config's standardisation and
        propagation rule, as `zerog_graph.evaluate_graph` computes them.
        """
        texts, class_names = check_texts(texts, "texts"), check_texts(class_names, "class_names")
        if not texts or not class_names:
            raise ValueError(
                f"classify needs at least one node and one class, got {len(texts)} and {len(class_names)}"
            )
        check_not_all_blank(texts, "texts"), check_class_names(class_names, "class_names")
        directed, batch_size = check_flag(directed, "directed"), check_positive_int(batch_size, "batch_size")
        label_texts = [name.replace("_", " ") for name in class_names] if label_texts is None else label_texts
        label_texts = check_texts(label_texts, "label_texts")
        check_label_texts(label_texts, class_names, "label_texts")
        description = "" if description is None else check_texts([description], "description")[0]
        num_rounds = self.config.num_rounds if num_rounds is None else check_num_rounds(num_rounds, "num_rounds")
        edges = edge_index_from(edge_index, len(texts))
        if not directed:
            edges = torch.cat([edges, edges.flip(0)], dim=1)
        fields = {"labels": class_names, "description": description}
        nodes = self.encode(texts, batch_size, kind="node", **fields)
        prompt = self.encode([description], batch_size, kind="description", **fields)
        labels = self.encode(label_texts, batch_size, kind="label", **fields)
        config = self.config
        num_rounds, _, scores, _, _ = score_graph(
            nodes,
            prompt,
            labels,
            edges,
            num_rounds,
            config.standardize,
            config.label_statistics,
            config.propagation,
            logits=False,
            cosines=True,
        )
        predictions = scores.argmax(-1)
        return ZeroGClassification(
            predictions=predictions,
            scores=scores,
            predicted_classes=[class_names[i] for i in predictions.tolist()],
            class_names=class_names,
            num_rounds=num_rounds,
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        edge_index: Optional[torch.Tensor] = None,
        prompt_input_ids: Optional[torch.Tensor] = None,
        prompt_attention_mask: Optional[torch.Tensor] = None,
        label_input_ids: Optional[torch.Tensor] = None,
        label_attention_mask: Optional[torch.Tensor] = None,
        batch: Optional[torch.Tensor] = None,
        label_batch: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        node_mean: Optional[torch.Tensor] = None,
        node_scale: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> ZeroGOutput:
        r"""
        Embeds the node texts. With graph inputs (`edge_index`, prompt and label texts) it also
        scores every node against its graph's labels, and with `labels` returns the ZeroG loss.

        `batch` and `label_batch` give the subgraph of each node and label text; `labels` index
        rows of the label texts (-1 is ignored). `node_mean` and `node_scale` (`[G, H]`, optional)
        standardise each subgraph with its whole graph's statistics rather than its own.
        """
        if self.training and torch.is_grad_enabled():
            self.check_trainable()
        node_embeds = self.embed(input_ids, attention_mask)
        if edge_index is None or label_input_ids is None or prompt_input_ids is None:
            return ZeroGOutput(node_embeds=node_embeds)
        prompt_embeds = self.embed(prompt_input_ids, prompt_attention_mask)
        label_embeds = self.embed(label_input_ids, label_attention_mask)
        logits = zerog_logits(
            node_embeds,
            prompt_embeds,
            label_embeds,
            edge_index,
            SUBGRAPH_ROUNDS if self.config.num_rounds == "auto" else self.config.num_rounds,
            self.config.standardize,
            batch,
            label_batch,
            statistics=None if node_mean is None else (node_mean, node_scale),
            label_statistics=self.config.label_statistics,
            propagation=self.config.propagation,
        )
        loss = None
        if labels is not None:
            loss = F.cross_entropy(self.config.logit_scale * logits, labels, ignore_index=-1)
        return ZeroGOutput(loss=loss, logits=logits, node_embeds=node_embeds, label_embeds=label_embeds)

    def save_pretrained(
        self, save_directory: str, is_main_process: bool = True, push_to_hub: bool = False, token=None, **kwargs
    ):
        """Writes the config (with `auto_map`), the code, the tokenizer and the LoRA adapter (in
        `ADAPTER_SUBFOLDER`, with its own short README), never the backbone's weights; no file holds an absolute
        local path of the backbone but config.json, and only where `lm_name_or_path` is one.

        `push_to_hub=True` then uploads the files written (and a README.md model card in the folder) to the Hub
        repository `repo_id` (default: the folder's name) through huggingface_hub, with `token`, `private`,
        `commit_message`, `commit_description` and `create_pr`; a backbone named by a local path is refused
        there. transformers' keywords about weights (`WEIGHTS_SAVE_KWARGS`) change nothing; any other keyword is
        refused. Only the main process writes (`is_main_process`)."""
        push_kwargs = {key: kwargs.pop(key) for key in PUSH_KWARGS if key in kwargs}
        refuse_unknown_kwargs("save_pretrained", {k: v for k, v in kwargs.items() if k not in WEIGHTS_SAVE_KWARGS})
        if push_kwargs and not push_to_hub:
            raise TypeError(f"save_pretrained(): {next(iter(push_kwargs))!r} is an option of push_to_hub=True")
        if push_to_hub and os.path.isabs(self.config.lm_name_or_path):
            raise ValueError(
                f"push_to_hub: the backbone is the local folder {self.config.lm_name_or_path!r}, which nobody "
                f"else can load; set model.config.lm_name_or_path to its Hub id (and lm_revision) first"
            )
        if not is_main_process:
            return None
        os.makedirs(save_directory, exist_ok=True)
        written = [os.path.join(save_directory, "config.json")]
        if self._auto_class is not None:
            written += custom_object_save(self, save_directory, config=self.config)
        self.config.save_pretrained(save_directory)
        written += self.tokenizer.save_pretrained(save_directory)
        if self.config.use_lora:
            written += self.save_adapter(os.path.join(save_directory, ADAPTER_SUBFOLDER))
        if push_to_hub:
            return self.push_folder(save_directory, written, token, **push_kwargs)
        return None

    def save_adapter(self, folder: str) -> list:
        """Writes the LoRA adapter into `folder` with the backbone recorded by `portable_name` and a README saying
        what the folder is (not peft's empty template); returns the files written."""
        peft_config = self.lm.peft_config["default"]
        recorded = peft_config.base_model_name_or_path
        peft_config.base_model_name_or_path = portable_name(self.config.lm_name_or_path)
        try:
            # No embedding layers: ZeroG never resizes the vocabulary (peft's "auto" would look the backbone up).
            self.lm.save_pretrained(folder, safe_serialization=True, save_embedding_layers=False)
        finally:
            peft_config.base_model_name_or_path = recorded
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(ADAPTER_README.format(backbone=portable_name(self.config.lm_name_or_path)))
        return [
            os.path.join(folder, name) for name in ("adapter_config.json", "adapter_model.safetensors", "README.md")
        ]

    @staticmethod
    def push_folder(folder: str, written: list, token=None, repo_id: Optional[str] = None, **options) -> str:
        """Uploads the files `written` into `folder` (and its README.md, when there is one) to the Hub repository
        `repo_id` (default: the folder's name), creating it if needed; returns the commit's URL."""
        repo_id = repo_id or os.path.basename(os.path.normpath(folder))
        private = options.pop("private", None)
        files = [os.path.relpath(path, folder).replace(os.sep, "/") for path in written]
        if os.path.isfile(os.path.join(folder, "README.md")):
            files.append("README.md")
        api = hf_api()
        repo_id = api.create_repo(repo_id, token=token, private=private, exist_ok=True).repo_id
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=sorted(set(files)),
            token=token,
            commit_message=options.pop("commit_message", None) or "Upload ZeroG model",
            **options,
        )
        return commit.commit_url

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str,
        *model_args,
        config: Optional[ZeroGConfig] = None,
        lm_path: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        device=None,
        **kwargs,
    ):
        """Loads a saved ZeroG model: the backbone from its own source, then the adapter and tokenizer from here,
        on `device` (default: the CPU).

        `revision`, `token`, `cache_dir` and `local_files_only` apply to every file of this repository
        (config, adapter, tokenizer); the backbone takes `token`, `cache_dir`, `local_files_only` and
        its own `config.lm_revision`. `AutoModel.from_pretrained` passes them all, with `config=`. Any other
        keyword argument is refused with its name (but those AutoModel adds itself, `AUTO_MODEL_KWARGS`);
        transformers' standard loading keywords (`torch_dtype`, `device_map`, `attn_implementation`,
        `low_cpu_mem_usage`, `use_safetensors`, `output_loading_info`) are honoured or refused with the reason
        (`checks_zerog.loading_options`)."""
        if model_args:
            raise TypeError(f"from_pretrained() takes no positional arguments after the name; got {model_args!r}")
        hub_kwargs = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
        from_auto = kwargs.get("_from_auto", False)
        for key in AUTO_MODEL_KWARGS:
            kwargs.pop(key, None)
        for key, default in UNSUPPORTED_HUB_KWARGS.items():
            if key in kwargs and kwargs[key] in (default, None):
                kwargs.pop(key)
        options = loading_options(kwargs, device, dtype)  # transformers' standard keywords, honoured or refused
        refuse_unknown_kwargs("from_pretrained", kwargs)
        device, dtype, attn_implementation = options["device"], options["dtype"], options["attn_implementation"]
        if from_auto and attn_implementation is None and config is not None:  # AutoModel puts it in the config
            attn_implementation, config._attn_implementation_internal = config._attn_implementation_internal, None
        if config is None:
            config = ZeroGConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        check_movable(device, config)
        adapter_path = pretrained_model_name_or_path if config.use_lora else None
        if lm_path is None and os.path.isdir(pretrained_model_name_or_path):
            lm_path = saved_folder_backbone(pretrained_model_name_or_path, config.lm_name_or_path)
        model = cls(
            config,
            lm_path=lm_path,
            adapter_path=adapter_path,
            tokenizer_path=pretrained_model_name_or_path,
            dtype=dtype,
            hub_kwargs=hub_kwargs,
        )
        if attn_implementation is not None:  # the backbone's, as transformers applies it to a model's attention
            try:
                model.lm.set_attn_implementation(attn_implementation)
            except (ImportError, ValueError) as error:
                raise ValueError(f"attn_implementation={attn_implementation!r}: {one_line(error)}") from None
        if device is not None:
            model.to(device)
        if options["output_loading_info"]:  # nothing missing: the backbone and adapter loads check their own keys
            return model.eval(), {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
        return model.eval()


ZeroGConfig.register_for_auto_class()
ZeroGModel.register_for_auto_class("AutoModel")

__all__ = ["ZeroGModel", "ZeroGPreTrainedModel", "ZeroGOutput", "ZeroGClassification", "ZeroGPooling", "zerog_logits"]
