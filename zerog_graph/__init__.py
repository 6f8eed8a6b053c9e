"""The graph side of ZeroG: graphs -> subgraphs -> collator -> model -> evaluation.

- `graph`, `io`, `registry`, `wordnet`: text-attributed graphs, their loaders and named graphs.
- `backbones`, `models`: local copies of backbones and building a `ZeroGModel` from a name.
- `cache`, `evaluate`, `cli`: cached embeddings, zero-shot metrics and the `zerog` command.
"""

from .evaluate import GraphResult, embed_graph, evaluate_graph, write_predictions
from .graph import GraphError, TextGraph
from .models import load_model
from .registry import GRAPHS, load_graph

__all__ = [
    "TextGraph",
    "GraphError",
    "GRAPHS",
    "load_graph",
    "load_model",
    "evaluate_graph",
    "embed_graph",
    "GraphResult",
    "write_predictions",
]
