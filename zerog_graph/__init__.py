"""The graph side of ZeroG: graphs -> subgraphs -> collator -> model -> evaluation.

- `graph`, `io`, `registry`, `wordnet`: text-attributed graphs, their loaders and named graphs.
- `backbones`, `models`: the short-named backbones and their local copies, building a `ZeroGModel` from a name.
- `cache`, `evaluate`, `cli`: cached embeddings, zero-shot metrics and the `zerog` command.
- `distributed`, `paths`, `precision`: work across `accelerate launch` processes, the cache folder, dtypes.
"""

import os as _os
import sys as _sys
from importlib.util import find_spec as _find_spec


def _drop_shadowing_copies():
    """Removes from `sys.path` any folder, such as a downloaded model's (`python -m zerog_graph` puts the
    current folder first), whose `configuration_zerog.py` or `modeling_zerog.py` would be imported instead
    of this project's own: a model folder's code runs only through transformers' `trust_remote_code`."""
    home = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    for name in ("configuration_zerog", "modeling_zerog"):
        spec = _find_spec(name) if name not in _sys.modules else None
        while spec is not None and spec.origin and _os.path.dirname(_os.path.abspath(spec.origin)) != home:
            folder = _os.path.dirname(_os.path.abspath(spec.origin))
            _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != folder]
            print(f"zerog: ignoring {spec.origin}: only the installed ZeroG code is imported", file=_sys.stderr)
            spec = _find_spec(name)


_drop_shadowing_copies()

from .evaluate import GraphResult, embed_graph, evaluate_graph, write_predictions  # noqa: E402
from .graph import GraphError, TextGraph  # noqa: E402
from .io import from_pyg, to_pyg  # noqa: E402
from .models import load_model  # noqa: E402
from .registry import GRAPHS, load_graph  # noqa: E402

__all__ = [
    "TextGraph",
    "GraphError",
    "GRAPHS",
    "load_graph",
    "from_pyg",
    "to_pyg",
    "load_model",
    "evaluate_graph",
    "embed_graph",
    "GraphResult",
    "write_predictions",
]
