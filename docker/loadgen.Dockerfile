# The load generator and locust (master and workers) in one slim image: no torch, no CUDA.
# BASE_IMAGE: any Debian bookworm image with Python 3.11 and venv; the public python image by default,
# a locally made one where no registry can be reached (scripts/docker-base-image.sh).
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY docker/pip/ /tmp/pip/
COPY pyproject.toml README.md ./
COPY loadgen ./loadgen
COPY servers ./servers
RUN if [ -f /tmp/pip/pip.conf ]; then export PIP_CONFIG_FILE=/tmp/pip/pip.conf; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir ".[locust,report,sharegpt]"

FROM ${BASE_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY loadgen/locust/locustfile.py /app/locustfile.py

RUN groupadd --system --gid 10001 servebench \
    && useradd --system --uid 10001 --gid servebench --create-home --home-dir /home/servebench servebench \
    && mkdir -p /app/results \
    && chown servebench:servebench /app/results
USER 10001:10001

# locust web UI and master /metrics; the load generator's live metrics.
EXPOSE 8089 9100
HEALTHCHECK NONE
CMD ["loadgen", "--help"]
