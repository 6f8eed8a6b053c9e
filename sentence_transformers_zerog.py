"""The pooling a sentence-transformers checkpoint declares (modules.json, 1_Pooling/config.json), for
`pooling_mode="auto"`. Travels to the Hub with the model."""

from typing import Optional

from transformers.utils import logging

try:
    from .configuration_zerog import POOLING, ZeroGConfig
    from .hub_zerog import read_hub_json
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from configuration_zerog import POOLING, ZeroGConfig
    from hub_zerog import read_hub_json

# Under transformers' logger, as modeling_zerog.py's, so that `TRANSFORMERS_VERBOSITY` decides what is shown.
logger = logging.get_logger("transformers.modeling_zerog")


# sentence-transformers' pooling modes that ZeroG implements, by their name there (`POOLING`); and the older flags.
# The modes of `POOLING` but auto, which is resolved here (`resolve_pooling`).
POOLING_MODES = tuple(mode for mode in POOLING if mode != "auto")
ST_POOLING_MODES = {st_name: mode for mode, (_, st_name) in POOLING.items() if st_name}


ST_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


SKIPPED_MODULE_NOTES = {
    "Normalize": "harmless for a cosine score, but propagation and standardisation see unnormalised vectors "
    "(as in ZeroG).",
    "Dense": "embeddings are the pooled backbone states, not the checkpoint's projected ones.",
}


# Skipped modules that change no prediction: said at info level (TRANSFORMERS_VERBOSITY=info), not as a warning.
HARMLESS_SKIPPED_MODULES = ("Normalize",)


def module_folder(modules_file: str, entry: dict) -> str:
    """The `path` of a modules.json entry, refused unless it is a plain relative folder of the checkpoint."""
    path = entry.get("path")
    parts = path.split("/") if isinstance(path, str) else []
    if not parts or any(part in ("", ".", "..") or "\\" in part or ":" in part for part in parts):
        raise ValueError(f"{modules_file}: module {entry.get('name')!r} has path {path!r}, not a relative folder")
    return path


def declared_modes(pooling: dict) -> list:
    """sentence-transformers' pooling modes in a Pooling config: `pooling_mode` (version 6 on), or the
    older `pooling_mode_*_token(s)` flags."""
    mode = pooling.get("pooling_mode")
    if mode is None:
        return [name for key, name in ST_LEGACY_POOLING_KEYS.items() if pooling.get(key) is True]
    return [mode] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else [repr(mode)]


def declared_pooling(lm_name_or_path: str, **hub_kwargs) -> Optional[str]:
    """The pooling a sentence-transformers checkpoint declares, or None when it declares none.

    `modules.json` names the Pooling module's folder. Modules after it (Normalize, Dense) are not
    applied, with a warning saying so. A declared mode that ZeroG lacks (max, weightedmean, several
    at once) is an error: pass `pooling_mode` explicitly."""
    modules = read_hub_json(lm_name_or_path, "modules.json", **hub_kwargs)
    modules_file = f"{lm_name_or_path}/modules.json"
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(entry, dict) for entry in modules):
        raise ValueError(f"{modules_file}: expected a list of module objects")
    kinds = [str(entry.get("type", "")).rsplit(".", 1)[-1] for entry in modules]
    if "Pooling" not in kinds:
        return None
    position = kinds.index("Pooling")
    pooling_file = f"{module_folder(modules_file, modules[position])}/config.json"
    pooling = read_hub_json(lm_name_or_path, pooling_file, dict, **hub_kwargs)
    if pooling is None:
        raise ValueError(f"{lm_name_or_path}/{pooling_file}: missing; {modules_file} names it")
    modes = declared_modes(pooling)
    if len(modes) != 1 or modes[0] not in ST_POOLING_MODES:
        raise ValueError(
            f"{lm_name_or_path}/{pooling_file} declares pooling {modes}, which ZeroG does not implement; "
            f"pass pooling_mode, one of {POOLING_MODES}"
        )
    for entry, kind in zip(modules[position + 1 :], kinds[position + 1 :]):
        log = logger.info if kind in HARMLESS_SKIPPED_MODULES else logger.warning
        log(
            f"{modules_file}: module {entry.get('path')!r} ({kind}) after pooling is not applied; "
            + SKIPPED_MODULE_NOTES.get(kind, "embeddings are the pooled backbone states.")
        )
    return ST_POOLING_MODES[modes[0]]


def resolve_pooling(config: ZeroGConfig, is_decoder: bool, lm_path: Optional[str] = None, **lm_kwargs) -> str:
    """`config.pooling_mode` with "auto" resolved: last token for decoders, declared or CLS else."""
    if config.pooling_mode != "auto":
        return config.pooling_mode
    if is_decoder:
        return "last"
    return declared_pooling(lm_path or config.lm_name_or_path, **lm_kwargs) or "cls"
