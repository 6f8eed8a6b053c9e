#!/usr/bin/env bash
# The steps of the Dockerfiles, in one script that their RUN and CMD lines call and that CI runs, so that
# CI exercising this script exercises the images' steps.
#
#   bash scripts/container_steps.sh install          torch first (TORCH_INDEX_URL picks the build), then
#                                                    scripts/install.sh: the project, its tests' needs, backbones
#   bash scripts/container_steps.sh browser          Debian's chromium, for the report's browser test (as root)
#   bash scripts/container_steps.sh test [ARGS]      the tests, offline (ARGS go to pytest, e.g. -m "not slow")
#   bash scripts/container_steps.sh main-job         the README's main job, offline: MiniLM on WordNet
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:-}
shift || true
case "$step" in
    install)
        # Unset, pip takes torch from the configured index (here the CPU wheel on disk; on PyPI the CUDA build).
        python -m pip install --quiet --disable-pip-version-check torch==2.13.0 \
            ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
        bash scripts/install.sh
        ;;
    browser)
        # tests/test_report.py opens the report in headless chromium; under CI a missing one fails that test.
        command -v chromium >/dev/null || {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
        }
        ;;
    test)
        HF_HUB_OFFLINE=1 python -m pytest -q -p no:cacheprovider "$@"
        ;;
    main-job)
        HF_HUB_OFFLINE=1 zerog eval --model minilm --graph wordnet "$@"
        ;;
    *)
        echo "usage: bash scripts/container_steps.sh install|browser|test [PYTEST ARGS]|main-job" >&2
        exit 2
        ;;
esac
