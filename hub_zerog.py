"""Reading a ZeroG folder or Hub repository: its files and JSON (every key once), the saved folder's backbone
path, and the limits an adapter config must keep before peft builds anything. Travels to the Hub with the model."""

import json
import os
import re
from typing import NamedTuple, Optional

from transformers.utils import cached_file, logging

try:
    from .configuration_zerog import MAX_LAYERS, MAX_LORA_R
except ImportError:  # imported as a top-level module rather than as Hub remote code
    from configuration_zerog import MAX_LAYERS, MAX_LORA_R

# Under transformers' logger, as modeling_zerog.py's, so that `TRANSFORMERS_VERBOSITY` decides what is shown.
logger = logging.get_logger("transformers.modeling_zerog")


# The LoRA adapter's folder inside a ZeroG repository. Not the root: `AutoModel.from_pretrained` on a Hub
# repository whose root holds `adapter_config.json` loads the adapter's base model instead of this code.
ADAPTER_SUBFOLDER = "adapter"


def one_line(error: Exception, limit: int = 400) -> str:
    """An exception as one line for an error message: its type and text, whitespace collapsed, cut at `limit`."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hub_file(name_or_path: str, filename: str, **hub_kwargs) -> Optional[str]:
    """The local path of a file of a folder or Hub repository, or None when it has none."""
    return cached_file(
        name_or_path,
        filename,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub_kwargs,
    )


def unique_keys(pairs: list) -> dict:
    """A JSON object from its `(key, value)` pairs (`json`'s `object_pairs_hook`), refusing a key given twice:
    Python's `json` keeps the last one silently, so a second `labels` or config field would shadow the first."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {twice!r} is given twice in one object")
    return data


def read_hub_json(name_or_path: str, filename: str, expected_type: Optional[type] = None, **hub_kwargs):
    """A JSON file of a folder or Hub repository, or None when it has none; with `expected_type` (e.g. dict),
    a value of another type is a ValueError naming the file."""
    path = hub_file(name_or_path, filename, **hub_kwargs)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, a key given twice
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except OSError as error:
        raise OSError(f"{path}: cannot be read ({error.strerror or error})") from None
    if expected_type is not None and not isinstance(value, expected_type):
        kind = "a JSON object" if expected_type is dict else f"JSON {expected_type.__name__}"
        raise ValueError(f"{path}: expected {kind}, got {type(value).__name__}")
    return value


# An adapter config's module names, and the one regular-expression form accepted for `target_modules`: names, `.`,
# `|`, groups, anchors and at most four `.*` (no nested quantifier can make `re.fullmatch` take forever).
MODULE_NAME = re.compile(r"[\w.-]{1,200}")


SAFE_MODULE_REGEX = re.compile(r"(?:[\w|()^$-]|\\.|\.\*?)*")


MAX_REGEX_LENGTH, MAX_REGEX_WILDCARDS, MAX_MODULE_NAMES = 512, 4, 4096


def check_module_names(value, field_name: str, where: str) -> None:
    """`value` is None, a list of module names, or one `SAFE_MODULE_REGEX` (peft matches a string with
    `re.fullmatch` against every module name)."""
    if value is None or value == "all-linear":
        return
    if isinstance(value, list):
        bad = next((name for name in value if not (isinstance(name, str) and MODULE_NAME.fullmatch(name))), None)
        if bad is not None or len(value) > MAX_MODULE_NAMES:
            raise ValueError(
                f"{where}: {field_name} must list at most {MAX_MODULE_NAMES} module names; {bad!r} is not one"
            )
        return
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: {field_name} must be a list of module names or a string, got {type(value).__name__}"
        )
    wildcards = value.count(".*")
    if len(value) > MAX_REGEX_LENGTH or wildcards > MAX_REGEX_WILDCARDS or not SAFE_MODULE_REGEX.fullmatch(value):
        raise ValueError(
            f"{where}: {field_name} {value[:80]!r} is not a list of module names nor a regular expression of the "
            f"accepted form (names, '.', '|', groups, anchors and at most {MAX_REGEX_WILDCARDS} '.*', "
            f"{MAX_REGEX_LENGTH} characters); refused before anything is built"
        )
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{where}: {field_name} {value[:80]!r} is not a valid regular expression ({error})") from None


def check_rank(value, field_name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LORA_R:
        raise ValueError(f"{where}: {field_name} must be an integer in [1, {MAX_LORA_R}], got {value!r}")


def check_adapter_config(path: str) -> dict:
    """Reads an adapter's `adapter_config.json` and refuses, before peft builds anything, what would make it
    allocate or compute without bound or build something else than a ZeroG LoRA: another adapter type or task,
    a rank over `MAX_LORA_R` (also in `rank_pattern`), `layer_replication` building over `MAX_LAYERS` layers,
    `target_modules` (or `exclude_modules`, pattern keys) other than module names or a bounded, safe regex."""
    config = read_hub_json(os.path.dirname(path), os.path.basename(path), dict)
    where = path
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{where}: peft_type {config.get('peft_type')!r}; a ZeroG adapter is a LoRA adapter (LORA)")
    if config.get("task_type") not in (None, "FEATURE_EXTRACTION"):
        raise ValueError(f"{where}: task_type {config['task_type']!r}; a ZeroG adapter is FEATURE_EXTRACTION")
    check_rank(config.get("r"), "r", where)
    for field_name in ("target_modules", "exclude_modules", "modules_to_save"):
        check_module_names(config.get(field_name), field_name, where)
    for field_name in ("rank_pattern", "alpha_pattern"):
        pattern = config.get(field_name) or {}
        if not isinstance(pattern, dict) or len(pattern) > MAX_MODULE_NAMES:
            raise ValueError(f"{where}: {field_name} must be an object of at most {MAX_MODULE_NAMES} entries")
        for key, value in pattern.items():
            check_module_names(key, f"a {field_name} key", where)
            if field_name == "rank_pattern":
                check_rank(value, f"rank_pattern[{key!r}]", where)
    replication = config.get("layer_replication")
    if replication is not None:
        pairs = isinstance(replication, list) and all(
            isinstance(p, list) and len(p) == 2 and all(type(v) is int and v >= 0 for v in p) and p[0] < p[1]
            for p in replication
        )
        if not pairs or sum(end - start for start, end in replication) > MAX_LAYERS:
            raise ValueError(
                f"{where}: layer_replication must be [start, end] pairs building at most {MAX_LAYERS} layers in all, "
                f"got {str(replication)[:80]}"
            )
    return config


def saved_folder_backbone(folder: str, lm_name_or_path: str) -> Optional[str]:
    """The backbone folder of a saved ZeroG folder whose `lm_name_or_path` is relative to it (`.`, `..`, `./x`,
    `../x`: what a Hub id never is), or None; such a path is read against the folder, never the working one."""
    parts = lm_name_or_path.replace("\\", "/").split("/")
    if parts[0] not in (".", ".."):
        return None
    return os.path.normpath(os.path.join(folder, lm_name_or_path))


def portable_name(lm_name_or_path: str) -> str:
    """The backbone's name as a saved file may hold it: the Hub id or relative path unchanged, an absolute local
    path as its folder's name (an absolute path names the saving machine, and means nothing elsewhere)."""
    return os.path.basename(os.path.normpath(lm_name_or_path)) if os.path.isabs(lm_name_or_path) else lm_name_or_path


# ---------------------------------------------------------------------------------------------
# A saved ZeroG folder or repository, read once and checked before anything of it loads
# ---------------------------------------------------------------------------------------------

# The only code a ZeroG folder may name: this project's two classes (the sibling files they import come with them).
ALLOWED_AUTO_MAP = {"AutoConfig": "configuration_zerog.ZeroGConfig", "AutoModel": "modeling_zerog.ZeroGModel"}
# A Hub id, `org/repo`, optionally pinned as `org/repo@revision` (a branch, tag or commit).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
# A model folder holds a few dozen files; the symlink check reads no more entries than this.
MAX_FOLDER_ENTRIES = 100_000


def check_folder_symlinks(folder: str) -> None:
    """Refuses a model folder holding a symlink that leaves it: what it points at would be read as part of the
    model (a tokenizer's vocabulary, say) and written into every folder saved from it, and pushed to the Hub.
    A Hub cache snapshot (`.../snapshots/<commit>`) may link into its own repository's `blobs` folder."""
    root = os.path.realpath(folder)
    allowed = [root]
    if os.path.basename(os.path.dirname(root)) == "snapshots":
        allowed.append(os.path.join(os.path.dirname(os.path.dirname(root)), "blobs"))
    seen = 0
    for parent, folders, files in os.walk(folder):  # linked folders are listed, not entered
        seen += len(folders) + len(files)
        if seen > MAX_FOLDER_ENTRIES:
            raise ValueError(f"{folder} holds over {MAX_FOLDER_ENTRIES:,} files and folders: not a model folder")
        for name in folders + files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not any(os.path.commonpath([place, target]) == place for place in allowed):
                    raise ValueError(
                        f"{path} is a symlink to {target}, outside the model folder {folder}; refused (what it "
                        f"points at would be loaded as part of the model and saved with it)"
                    )


def check_backbone_folder(folder: str, where: str) -> None:
    """A local backbone folder must hold a config.json and no symlink that leaves it; `where` names what named it."""
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise ValueError(f"{where} names the folder {folder}, which holds no config.json: not a backbone folder")
    check_folder_symlinks(folder)


class SavedFolder(NamedTuple):
    """A saved ZeroG model (`read_saved_folder`): where it is, the Hub options it loads with, and its config.json."""

    source: str
    hub_kwargs: dict
    config: dict

    @property
    def local(self) -> bool:
        return os.path.isdir(self.source)


def read_saved_folder(name_or_path: str) -> Optional[SavedFolder]:
    """The saved ZeroG model that `name_or_path` names (config.json with model_type "zerog": a local folder, or a Hub
    id `org/repo[@revision]`, found in the local Hub cache or downloaded), or None. Its config.json is read once; a
    local folder holding a symlink that leaves it, or an `auto_map` (config.json, tokenizer_config.json) naming code
    other than `ALLOWED_AUTO_MAP`, is refused before anything of it loads."""
    if os.path.isdir(name_or_path):
        source, hub_kwargs = name_or_path, {}
    elif os.path.exists(name_or_path) or not HUB_ID.match(name_or_path):
        return None
    else:
        source, _, revision = name_or_path.partition("@")
        hub_kwargs = {"revision": revision} if revision else {}
    config = read_hub_json(source, "config.json", dict, **hub_kwargs)
    if config is None or config.get("model_type") != "zerog":
        return None
    if os.path.isdir(source):
        check_folder_symlinks(source)
    tokenizer_config = read_hub_json(source, "tokenizer_config.json", dict, **hub_kwargs) or {}
    for name, settings in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
        auto_map = settings.get("auto_map") or {}
        entries = auto_map.items() if isinstance(auto_map, dict) else [("auto_map", auto_map)]
        for key, value in entries:
            if ALLOWED_AUTO_MAP.get(key) != value:
                raise ValueError(
                    f"{source}/{name}: auto_map entry {key!r}: {value!r} names code that is not this project's "
                    f"{ALLOWED_AUTO_MAP}; refused (nothing from the folder ran)"
                )
    return SavedFolder(source, hub_kwargs, config)
