# Prometheus with servebench's scrape configuration. BASE_IMAGE: the official image by default (GPU
# hosts, laptops: Prometheus is already in it); where no registry can be reached, a local Debian
# bookworm base (scripts/docker-base-image.sh), on which Debian's own `prometheus` package is installed.
ARG BASE_IMAGE=prom/prometheus:v2.55.1
FROM ${BASE_IMAGE}

USER 0:0
# hadolint ignore=DL3008
RUN if ! command -v prometheus >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends prometheus wget \
        && rm -rf /var/lib/apt/lists/* \
        && mkdir -p /prometheus && chown 65534:65534 /prometheus; \
    fi
COPY docker/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
USER 65534:65534

EXPOSE 9090
WORKDIR /prometheus
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/ready"]
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
