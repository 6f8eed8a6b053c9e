"""ZeroG model configuration."""

import dataclasses
import math
import re
from typing import NamedTuple, Optional, Union

from transformers import AutoConfig, PretrainedConfig

# The pooling modes: what each takes, and the name sentence-transformers' Pooling module gives it (None: none).
# `ZeroGPooling` implements each mode but "auto", which the model resolves; the CLIs offer them all.
POOLING = {
    "auto": ("last token for decoders; for encoders the checkpoint's declared pooling, else cls", None),
    "last": ("each text's last real token", "lasttoken"),
    "cls": ("each text's first token, as in ZeroG", "cls"),
    "mean": ("the mean of the real tokens", "mean"),
}
POOLING_MODES = tuple(POOLING)
POOLING_HELP = "; ".join(f"{mode}: {meaning}" for mode, (meaning, _) in POOLING.items())
QUANTIZATIONS = (None, "4bit", "8bit")
LABEL_STATISTICS = ("labels", "nodes")
# The propagation rules (`propagation_zerog.PROPAGATION_RULES` holds their code): ZeroG's R rounds of the normalised
# A+I, the default, or personalised PageRank (APPNP) with R steps and teleport `APPNP_ALPHA`, an option.
PROPAGATIONS = {
    "zerog": "R rounds of the symmetric-normalised A+I with the prompt node, as in ZeroG",
    "appnp": "personalised PageRank (APPNP): R steps of x <- (1 - alpha) A x + alpha x0, alpha 0.1",
}
# APPNP's teleport probability: the value of its paper (Klicpera et al., 2019) for every graph, not tuned here.
APPNP_ALPHA = 0.1
# num_rounds="auto": the candidates for R, and the R of training subgraphs (2-hop subgraphs of a few dozen nodes).
AUTO_ROUNDS = tuple(range(11))
SUBGRAPH_ROUNDS = 2
# The LoRA rank when `lora_r` is None, by kind of backbone.
DEFAULT_LORA_RANK = {"decoder": 8, "encoder": 4}
AUTO_ROUNDS_TOLERANCE = 0.03  # docs/rounds.md says how it was chosen (PropagationGraph.choose_rounds)
AUTO_ROUNDS_COLLAPSE = 0.19  # docs/rounds.md says how it was chosen (PropagationGraph.choose_rounds)
ZEROG_ROUNDS = 2  # ZeroG's R: auto's choice for a graph that never settles and collapses
# Upper bounds on what a config (a downloaded one included) can make a run cost; docs/safety.md lists them.
MAX_ROUNDS = 100  # propagation rounds: each is one sparse product over the graph
MAX_SEQ_LENGTH = 32768  # tokens per text
MAX_LORA_R = 1024
MAX_LAYERS = 256  # backbone layers (the largest dense LLMs have about 130)
LOGIT_SCALE_RANGE = (0.01, 100.0)  # CLIP clamps its learned scale at 100; beyond, confidences saturate to 0/1

# The JSON types each field accepts (a bool is no number here).
FIELD_TYPES = {
    "lm_name_or_path": (str,),
    "lm_revision": (str, type(None)),
    "lm_config": (dict, type(None)),
    "lm_is_decoder": (bool, type(None)),
    "pooling_mode": (str,),
    "max_seq_length": (int,),
    "template": (str, type(None)),
    "label_template": (str, type(None)),
    "description_template": (str, type(None)),
    "hidden_layer": (int,),
    "num_rounds": (int, str),
    "standardize": (bool,),
    "label_statistics": (str,),
    "propagation": (str,),
    "logit_scale": (int, float),
    "use_lora": (bool,),
    "lora_r": (int, type(None)),
    "lora_alpha": (int, float),
    "lora_dropout": (int, float),
    "lora_target_modules": (list, str, type(None)),
    "quantization": (str, type(None)),
    "gradient_checkpointing": (bool,),
}


# What transformers itself puts into a config's keyword arguments (PretrainedConfig's own fields, what its
# `__post_init__` reads, what a saved config.json holds besides ZeroG's fields: the Trainer writes the tokenizer's
# special token ids and `use_cache` into the model's config); any other name is refused.
TRANSFORMERS_CONFIG_KEYS = frozenset(
    [field.name for field in dataclasses.fields(PretrainedConfig)]
    + ["model_type", "auto_map", "name_or_path", "torch_dtype", "num_labels", "output_attentions"]
    + ["attn_implementation", "experts_implementation", "use_cache", "tie_word_embeddings"]
    + ["pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id"]
)


def check_config_kwargs(kwargs: dict) -> None:
    """A TypeError naming the first keyword argument that is neither a ZeroG field nor one of transformers' own
    (`TRANSFORMERS_CONFIG_KEYS`, or a private `_name`): a misspelt field would otherwise be kept and saved."""
    unknown = [key for key in kwargs if key not in TRANSFORMERS_CONFIG_KEYS and not key.startswith("_")]
    if unknown:
        raise TypeError(
            f"ZeroGConfig got an unexpected keyword argument {unknown[0]!r}; its fields: {', '.join(FIELD_TYPES)}"
        )


def check_field_types(values: dict) -> None:
    """Raises a ValueError naming the first field whose value has the wrong JSON type."""
    for field, types in FIELD_TYPES.items():
        value = values[field]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"field {field!r} must be {expected}, got {value!r} ({type(value).__name__})")
    targets = values["lora_target_modules"]
    if isinstance(targets, list) and not all(isinstance(target, str) for target in targets):
        raise ValueError(f"field 'lora_target_modules' must list module names (strings), got {targets!r}")


def check_num_rounds(num_rounds, name: str = "field 'num_rounds'", text: bool = False):
    """`num_rounds` as the config takes it, "auto" or an integer in [0, MAX_ROUNDS], else a ValueError naming
    `name`. With `text=True` (a command line's value) a string of digits is converted first. The config, the
    CLI's --rounds and train_hf.py's --num_rounds all check it here."""
    value = num_rounds
    if text and value != "auto" and value.strip().lstrip("+-").isdigit():
        value = int(value)
    if value != "auto" and (type(value) is not int or not 0 <= value <= MAX_ROUNDS):
        raise ValueError(f"{name} must be an integer in [0, {MAX_ROUNDS}] or 'auto', got {num_rounds!r}")
    return value


# PromptEOL (Jiang et al., 2023): makes an untrained decoder's last token summarise the text.
PROMPTEOL_TEMPLATE = 'This passage : "{text}" means in one word:"'
# A template wraps each text before encoding: `{text}` is the text (twice for echo embeddings); `{labels}` (the
# graph's class names, joined by ", ") and `{description}` (the graph's description) are filled per graph.
GRAPH_FIELDS = re.compile(r"\{(labels|description)\}")
MAX_TEXT_SLOTS = 2


class Templates(NamedTuple):
    """The templates of a graph's three kinds of text: node texts, label texts and the description."""

    node: Optional[str]
    label: Optional[str]
    description: Optional[str]


# The classification question with the graph's class names (as LLM-BP asks its encoder the task); a label text
# wrapped alike is a node that states its own class.
TASK_TEMPLATE = 'Categories: {labels}.\nText: "{text}"\nThe category of this text in one word:"'
# Named templates (`template="prompteol"`, `--template task`); docs/templates.md says how they were measured.
TEMPLATES = {
    "prompteol": Templates(PROMPTEOL_TEMPLATE, PROMPTEOL_TEMPLATE, PROMPTEOL_TEMPLATE),
    "task": Templates(TASK_TEMPLATE, TASK_TEMPLATE, TASK_TEMPLATE),
}

# The template of a fresh model around a decoder when none is given (zerog_graph.models.build_model); encoders get
# none. How it was chosen: docs/templates.md.
DECODER_DEFAULT_TEMPLATE = "prompteol"


def resolve_templates(
    template: Optional[str], label_template: Optional[str] = None, description_template: Optional[str] = None
) -> Templates:
    """The templates of node, label and description texts: a name of `TEMPLATES` gives its set, a format string
    stands for all three; a label or description template given (not None) wins."""
    named = TEMPLATES.get(template) or Templates(*[template] * 3)
    return Templates(
        named.node,
        named.label if label_template is None else label_template,
        named.description if description_template is None else description_template,
    )


def template_settings(template: Optional[str]) -> dict:
    """The three template fields that `template` sets: a name of `TEMPLATES` sets its three templates; a format
    string sets itself for all three kinds of text; "" or None sets none."""
    return dict(zip(("template", "label_template", "description_template"), resolve_templates(template or None)))


def check_template(template: Optional[str], name: str) -> None:
    """A ValueError naming the field `name` unless `template` is None or holds `{text}` once or twice and no field
    but `{text}`, `{labels}` and `{description}`."""
    if template is None:
        return
    if not 1 <= template.count("{text}") <= MAX_TEXT_SLOTS:
        named = f", or be a named template ({', '.join(TEMPLATES)})" if name == "template" else ""
        raise ValueError(f"{name} must contain '{{text}}' once (or twice, for echo){named}; got {template!r}")
    unknown = sorted(set(re.findall(r"\{(\w+)\}", template)) - {"text", "labels", "description"})
    if unknown:
        raise ValueError(
            f"{name} has the field {{{unknown[0]}}}; a template may use {{text}}, {{labels}} and {{description}} "
            f"only; got {template!r}"
        )


def fill_template(template: Optional[str], labels: Optional[list] = None, description: Optional[str] = None):
    """`template` for one graph: its pieces around each `{text}`, with `{labels}` and `{description}` filled in
    (a tuple, so that a class name holding "{text}" stays text); None for no template. A ValueError when the
    template needs a field that is not given."""
    if template is None:
        return None
    names = None if labels is None else ", ".join(name.replace("_", " ") for name in labels)  # as label texts
    values = {"labels": names, "description": description}
    missing = sorted({field for field in GRAPH_FIELDS.findall(template) if values[field] is None})
    if missing:
        raise ValueError(f"template {template!r} uses {{{missing[0]}}}: pass the graph's {missing[0]}")
    return tuple(GRAPH_FIELDS.sub(lambda m: values[m.group(1)], piece) for piece in template.split("{text}"))


def filled_template(templates: Templates, kind: str, labels: Optional[list] = None, description: Optional[str] = None):
    """`fill_template` of the template of one `kind` of text ("node", "label" or "description")."""
    if kind not in Templates._fields:
        raise ValueError(f"kind={kind!r} is not one of 'node', 'label', 'description'")
    return fill_template(getattr(templates, kind), labels, description)


class ZeroGConfig(PretrainedConfig):
    r"""
    Configuration of a [`ZeroGModel`]: a text backbone (encoder or decoder) that embeds node texts,
    label texts and graph descriptions into one space, plus the parameter-free ZeroG propagation.

    Args:
        lm_name_or_path (`str`, *optional*, defaults to `"sentence-transformers/all-MiniLM-L6-v2"`):
            The backbone: a Hub id or a local folder (`zerog_graph.load_model` also takes the short
            names of `zerog_graph.backbones.BACKBONES`). Its weights are never stored with a ZeroG
            model; they load from here.
        lm_revision (`str`, *optional*):
            Git revision of the backbone on the Hub. Pin it for reproducible results.
        lm_config (`dict`, *optional*):
            The backbone's own config, as a dict. Filled in when the model is built.
        lm_is_decoder (`bool`, *optional*):
            Whether the backbone is a decoder LLM. `None` derives it from the architecture
            (`config.is_decoder` is not trusted: it is missing or False on Llama-family configs).
        pooling_mode (`str`, *optional*, defaults to `"auto"`):
            One of `POOLING_MODES` ("auto", "last", "cls", "mean"). `"auto"` is `"last"` for decoders; for
            encoders it is the pooling the checkpoint declares (the sentence-transformers Pooling
            module that `modules.json` names), otherwise `"cls"`, as the original ZeroG. The model
            writes the resolved mode back here, so a saved config never says `"auto"`.
        max_seq_length (`int`, *optional*, defaults to 512):
            Tokens per text, template included, at most `MAX_SEQ_LENGTH` (32768). Truncation cuts the
            text, never the template.
        template (`str`, *optional*):
            A format string that wraps every node text before encoding: `{text}` once (twice: echo embeddings),
            and optionally `{labels}` (the graph's class names, joined by ", ") and `{description}`, filled per
            graph. A name of `TEMPLATES` (e.g. `"prompteol"`) sets this and the two fields below.
        label_template (`str`, *optional*):
            The template of label texts; `None` uses `template`.
        description_template (`str`, *optional*):
            The template of the graph description (the prompt node); `None` uses `template`.
        hidden_layer (`int`, *optional*, defaults to -1):
            The backbone layer whose states are pooled, indexed as `hidden_states` (0: the token embeddings,
            -1: the last layer's output).
        num_rounds (`int` or `"auto"`, *optional*, defaults to `"auto"`):
            Propagation rounds R over the symmetric-normalised A+I with the prompt node. `"auto"` chooses R
            for each graph from `AUTO_ROUNDS`, from the unlabelled graph and the label texts alone
            (`propagation_zerog.PropagationGraph.choose_rounds`); training subgraphs then use
            `SUBGRAPH_ROUNDS`. At most `MAX_ROUNDS` (100).
        standardize (`bool`, *optional*, defaults to `True`):
            Standardise node and label embeddings (zero mean, unit variance per dimension), as
            ZeroG's `if_norm`.
        label_statistics (`str`, *optional*, defaults to `"labels"`):
            What standardises the label vectors: `"labels"`, their own mean and spread (ZeroG), or `"nodes"`, the
            graph's node statistics (as the prompt node is).
        propagation (`str`, *optional*, defaults to `"zerog"`):
            The propagation rule, one of `PROPAGATIONS`: `"zerog"` (R rounds of the normalised A+I) or `"appnp"`
            (personalised PageRank, R steps with teleport `APPNP_ALPHA`).
        logit_scale (`float`, *optional*, defaults to 10.0):
            Multiplies the cosine similarities before the cross-entropy loss; in `LOGIT_SCALE_RANGE`, [0.01, 100].
        use_lora (`bool`, *optional*, defaults to `True`):
            Wrap the backbone in a LoRA adapter. Without it the backbone is built frozen, for
            training-free inference. The model holds the rule on training: in training mode
            (`train()`, or a forward pass with gradients), a decoder whose non-LoRA weights require
            grad raises a `ValueError`, so a decoder is fine-tuned only through LoRA. An encoder may
            be unfrozen by hand (`model.lm.requires_grad_(True)`) and fully fine-tuned.
        lora_r (`int`, *optional*):
            LoRA rank, at most `MAX_LORA_R` (1024). `None` gives `DEFAULT_LORA_RANK`: 8 for decoders and 4
            for encoders; the model writes the rank it used back here, so a saved config holds it.
        lora_alpha (`int`, *optional*, defaults to 16):
            LoRA scaling numerator.
        lora_dropout (`float`, *optional*, defaults to 0.05):
            Dropout on the LoRA input.
        lora_target_modules (`list[str]` or `str`, *optional*):
            Modules that get LoRA. `None` uses `LORA_TARGET_MODULES` for the architecture, then
            peft's mapping, then `"all-linear"` with a warning.
        quantization (`str`, *optional*):
            `None`, `"4bit"` (nf4, double quantisation, bf16 compute) or `"8bit"`, through
            bitsandbytes (QLoRA).
        gradient_checkpointing (`bool`, *optional*, defaults to `False`):
            Recompute backbone activations in the backward pass. Always on with `quantization`.

    Example:

    ```python
    >>> from configuration_zerog import ZeroGConfig
    >>> config = ZeroGConfig(lm_name_or_path="Qwen/Qwen2-7B", quantization="4bit")
    >>> config.pooling_mode, config.lm_is_decoder
    ('auto', None)

    ```
    """

    model_type = "zerog"

    def __init__(
        self,
        lm_name_or_path: str = "sentence-transformers/all-MiniLM-L6-v2",
        lm_revision: Optional[str] = None,
        lm_config: Optional[dict] = None,
        lm_is_decoder: Optional[bool] = None,
        pooling_mode: str = "auto",
        max_seq_length: int = 512,
        template: Optional[str] = None,
        label_template: Optional[str] = None,
        description_template: Optional[str] = None,
        hidden_layer: int = -1,
        num_rounds: Union[int, str] = "auto",
        standardize: bool = True,
        label_statistics: str = "labels",
        propagation: str = "zerog",
        logit_scale: float = 10.0,
        use_lora: bool = True,
        lora_r: Optional[int] = None,
        lora_alpha: int = 16,
        lora_dropout: float = 0.05,
        lora_target_modules: Optional[Union[list, str]] = None,
        quantization: Optional[str] = None,
        gradient_checkpointing: bool = False,
        **kwargs,
    ):
        check_field_types({field: value for field, value in locals().items() if field in FIELD_TYPES})
        check_config_kwargs(kwargs)
        if pooling_mode not in POOLING_MODES:
            raise ValueError(f"pooling_mode={pooling_mode!r} is not one of {POOLING_MODES}")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization={quantization!r} is not one of {QUANTIZATIONS}")
        if template in TEMPLATES:  # a name: its templates, where not given apart
            template, label_template, description_template = resolve_templates(
                template, label_template, description_template
            )
        for name, value in [
            ("template", template),
            ("label_template", label_template),
            ("description_template", description_template),
        ]:
            check_template(value, name)
        if label_statistics not in LABEL_STATISTICS:
            raise ValueError(f"label_statistics={label_statistics!r} is not one of {LABEL_STATISTICS}")
        if propagation not in PROPAGATIONS:
            raise ValueError(f"propagation={propagation!r} is not one of {tuple(PROPAGATIONS)}")
        if not -MAX_LAYERS - 1 <= hidden_layer <= MAX_LAYERS:
            raise ValueError(f"hidden_layer must be in [{-MAX_LAYERS - 1}, {MAX_LAYERS}], got {hidden_layer}")
        check_num_rounds(num_rounds)
        if not 1 <= max_seq_length <= MAX_SEQ_LENGTH:
            raise ValueError(f"max_seq_length must be in [1, {MAX_SEQ_LENGTH}], got {max_seq_length}")
        if lora_r is not None and not 1 <= lora_r <= MAX_LORA_R:
            raise ValueError(f"lora_r must be in [1, {MAX_LORA_R}], got {lora_r}")
        if not math.isfinite(lora_alpha):
            raise ValueError(f"lora_alpha must be a finite number, got {lora_alpha}")
        if not 0 <= lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout}")
        low, high = LOGIT_SCALE_RANGE
        if not low <= logit_scale <= high:
            raise ValueError(f"logit_scale must be in [{low}, {high}], got {logit_scale}")
        self.lm_name_or_path = lm_name_or_path
        self.lm_revision = lm_revision
        self.lm_config = lm_config
        self.lm_is_decoder = lm_is_decoder
        self.pooling_mode = pooling_mode
        self.max_seq_length = max_seq_length
        self.template = template
        self.label_template = label_template
        self.description_template = description_template
        self.hidden_layer = hidden_layer
        self.num_rounds = num_rounds
        self.standardize = standardize
        self.label_statistics = label_statistics
        self.propagation = propagation
        self.logit_scale = logit_scale
        self.use_lora = use_lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = lora_target_modules
        self.quantization = quantization
        self.gradient_checkpointing = gradient_checkpointing
        super().__init__(**kwargs)

    @property
    def templates(self) -> Templates:
        """The templates of node, label and description texts, `template` standing in for those not set (a name of
        `TEMPLATES` set after the config was built is looked up here)."""
        return resolve_templates(self.template, self.label_template, self.description_template)

    def get_lm_config(self) -> PretrainedConfig:
        """The backbone's config: from `lm_config` when filled in, else loaded from the backbone."""
        if self.lm_config is not None:
            lm_config = dict(self.lm_config)
            return AutoConfig.for_model(lm_config.pop("model_type"), **lm_config)
        return AutoConfig.from_pretrained(self.lm_name_or_path, revision=self.lm_revision, trust_remote_code=False)


__all__ = [
    "ZeroGConfig",
    "POOLING",
    "POOLING_MODES",
    "PROMPTEOL_TEMPLATE",
    "TEMPLATES",
    "Templates",
    "check_num_rounds",
    "fill_template",
    "template_settings",
]
