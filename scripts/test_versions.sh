#!/usr/bin/env bash
# Runs the fast tier, and the QLoRA step test (bitsandbytes), against the lowest or the newest versions of
# transformers, peft, accelerate, datasets, torch-geometric and bitsandbytes that pyproject.toml claims.
#
#   bash scripts/test_versions.sh lowest|newest [VENV]     (VENV defaults to /tmp/zerog-versions-lowest|newest)
#
# The venv sees the system site-packages, so the installed torch is reused: a constraint pins it to the
# installed version, and pip fails rather than resolve another torch (which would pull CUDA wheels).
# Everything else those packages need comes from the package index.
set -euo pipefail
bound=${1:-}
if [[ "$bound" != lowest && "$bound" != newest ]]; then
    echo "usage: bash scripts/test_versions.sh lowest|newest [VENV]" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${2:-/tmp/zerog-versions-$bound}

# lowest: pkg==LOWER for each `pkg>=LOWER` bound; newest: the whole range, upgraded.
specs=$(python - "$repo/pyproject.toml" "$bound" <<'EOF'
import re, sys, tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
tested = ("transformers", "peft", "accelerate", "datasets", "torch-geometric", "bitsandbytes")
for requirement in project["dependencies"] + project["optional-dependencies"]["qlora"]:
    name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", requirement).groups()
    if name in tested:
        lower = re.search(r">=\s*([^,\s]+)", spec)
        if lower is None:
            sys.exit(f"pyproject.toml: {name} has no lower bound")
        print(f"{name}=={lower.group(1)}" if sys.argv[2] == "lowest" else f"{name}{spec}")
EOF
)
python -m venv --system-site-packages "$venv"
python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > "$venv/torch-constraint.txt"
upgrade=$([[ "$bound" == newest ]] && echo --upgrade || true)
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $upgrade -c "$venv/torch-constraint.txt" $specs
echo "== $bound versions:"
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -i -E "^(torch|transformers|peft|accelerate|datasets|torch.geometric|bitsandbytes|huggingface.hub) "

cd "$repo"
export PYTHONPATH=$repo HF_HUB_OFFLINE=1
status=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" || status=1
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_modeling.py -k "qlora_step" || status=1
exit $status
