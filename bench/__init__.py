"""The benchmarks that the docs cite, finished studies under `studies/` (bench/README.md), and the graphs they
share (`bench.graphs`). A package, so that tests import `bench.graphs` and `bench.transfer` as any module; a
script run as `python bench/NAME.py` puts the repository root first on `sys.path` to import them."""

import os
import platform


def machine() -> str:
    """The CPU, its core count and its bf16 support, to print with every figure."""
    from zerog_graph.precision import cpu_flags, cpu_name

    flags, name = cpu_flags() or set(), cpu_name()
    kind = "AMX" if "amx_tile" in flags else "AVX512-BF16, no AMX" if "avx512_bf16" in flags else "no bf16"
    return f"{platform.machine() if name == 'unknown' else name}, {os.cpu_count()} cores, {kind}"
