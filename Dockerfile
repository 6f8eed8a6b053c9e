# CPU image: the project, its tests and the packaged backbones; runs offline once built.
#   docker build -t zerog-hf .
#   docker run --rm --network none zerog-hf                                            # the main job
#   docker run --rm --network none zerog-hf bash scripts/container_steps.sh test       # every test
# The steps are scripts/container_steps.sh, which CI runs too.
FROM python:3.11-slim
# torch's CPU build; PyPI's torch wheel for Linux is the CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /opt/zerog-hf
COPY . .
RUN bash scripts/container_steps.sh install
# Offline from here on: the fast tests prove that nothing left to download is needed (BuildKit's --network).
RUN --network=none bash scripts/container_steps.sh test -m "not slow"
ENV HF_HUB_OFFLINE=1
CMD ["bash", "scripts/container_steps.sh", "main-job"]
