"""The graph side of ZeroG: graphs -> subgraphs -> collator -> model -> evaluation.

- `graph`, `io`, `registry`, `wordnet`: text-attributed graphs, their loaders and named graphs.
- `backbones`, `models`: the short-named backbones and their local copies, building a `ZeroGModel` from a name.
- `cache`, `evaluate`, `report`, `cli`: cached embeddings, zero-shot metrics, the report and the `zerog` command.
- `distributed`, `paths`, `precision`: work across `accelerate launch` processes, the cache folder, dtypes.
"""

import logging as _logging
import os as _os
import sys as _sys
from importlib import import_module as _import_module
from importlib.util import find_spec as _find_spec

# The model's code, which travels to the Hub with every saved model: `modeling_zerog` and the files it imports.
MODEL_CODE = (
    "configuration_zerog",
    "checks_zerog",
    "modeling_zerog",
    "backbone_zerog",
    "hub_zerog",
    "propagation_zerog",
    "sentence_transformers_zerog",
    "tokenization_zerog",
)


def _drop_shadowing_copies():
    """Removes from `sys.path` any folder, such as a downloaded model's (`python -m zerog_graph` puts the
    current folder first), whose copy of a `MODEL_CODE` file would be imported instead of this project's own: a
    model folder's code runs only through transformers' `trust_remote_code`."""
    home = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    for name in MODEL_CODE:
        spec = _find_spec(name) if name not in _sys.modules else None
        while spec is not None and spec.origin and _os.path.dirname(_os.path.abspath(spec.origin)) != home:
            folder = _os.path.dirname(_os.path.abspath(spec.origin))
            _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != folder]
            print(f"zerog: ignoring {spec.origin}: only the installed ZeroG code is imported", file=_sys.stderr)
            spec = _find_spec(name)


_drop_shadowing_copies()

# Optional 4-bit kernels that bitsandbytes looks for when peft or the Trainer imports it: their absence
# (offline, or no `kernels` package) is logged as a warning on every command although no quantised
# layer is in use. Only these two loggers are lowered; QLoRA's own errors still show.
for _name in ("bitsandbytes.backends.cpu.ops", "kernels"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

# The public names, imported on first use (PEP 562): `zerog --help` and `import zerog_graph` load no model code.
_EXPORTS = {
    "GraphResult": "evaluate",
    "embed_graph": "evaluate",
    "evaluate_graph": "evaluate",
    "write_predictions": "evaluate",
    "write_report": "report",
    "GraphError": "graph",
    "TextGraph": "graph",
    "load_model": "models",
    "GRAPHS": "registry",
    "load_graph": "registry",
    "from_pyg": "io",
    "to_pyg": "io",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = list(_EXPORTS)
