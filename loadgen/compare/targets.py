"""The servers a comparison talks to: `name=URL` parsing, and what each says about itself.

`probe` asks a server for its health, its models (`/v1/models`), its version (vLLM's `/version`),
its configuration (the HF server's `/config`) and the configuration gauges vLLM exports on `/metrics`
(`vllm:cache_config_info`), so the report can state exactly what was measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from loadgen.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TargetSpec:
    """One `name=URL` target of a comparison."""

    name: str
    base_url: str

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        """Parse `name=http://host:port` (a trailing `/v1` is dropped)."""
        name, sep, url = text.partition("=")
        name, url = name.strip(), url.strip().rstrip("/")
        if not sep or not name or not url:
            raise ConfigError(f"target {text!r}: expected NAME=URL, e.g. vllm=http://127.0.0.1:8000")
        if not _NAME.match(name):
            raise ConfigError(f"target name {name!r}: use letters, digits, '_', '.', '-' (at most 40)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"target {name}: {url!r} is not an http(s):// URL")
        return cls(name, url.removesuffix("/v1"))


def parse_targets(items: list[str] | tuple[str, ...]) -> list[TargetSpec]:
    """Parse every `name=URL`; names must be distinct and there must be at least two."""
    targets = [TargetSpec.parse(item) for item in items]
    if len(targets) < 2:
        raise ConfigError("a comparison needs two or more targets (NAME=URL each), or --launch")
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"target names must differ: {', '.join(duplicates)} given twice")
    return targets


@dataclass
class ServerInfo:
    """What one server reported about itself at the start of a comparison."""

    name: str
    base_url: str
    healthy: bool
    kind: str
    """`vllm`, `hf`, or `unknown`."""
    models: list[str] = field(default_factory=list)
    max_model_len: int | None = None
    root: str | None = None
    version: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    """The HF server's `/config`; vLLM's `cache_config_info` labels."""
    error: str | None = None

    @property
    def model(self) -> str | None:
        """The first model the server lists."""
        return self.models[0] if self.models else None

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `run.json`."""
        return {
            "name": self.name,
            "base_url": self.base_url,
            "healthy": self.healthy,
            "kind": self.kind,
            "models": self.models,
            "model": self.model,
            "max_model_len": self.max_model_len,
            "root": self.root,
            "version": self.version,
            "config": self.config,
            "error": self.error,
        }


def _get_json(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def probe(name: str, base_url: str, api_key: str | None = None) -> ServerInfo:
    """Ask one server about itself; an unreachable or unhealthy server is reported, not raised."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    info = ServerInfo(name, base_url, healthy=False, kind="unknown")
    with httpx.Client(timeout=PROBE_TIMEOUT_S, headers=headers) as client:
        try:
            health = client.get(base_url + "/health")
            info.healthy = health.status_code == 200
            if not info.healthy:
                info.error = f"/health answered {health.status_code}"
            models = _get_json(client, base_url + "/v1/models")
            data = models.get("data") if isinstance(models, dict) else None
            cards = [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []
            info.models = [str(c.get("id")) for c in cards]
            if cards:
                first = cards[0]
                info.max_model_len = first.get("max_model_len")
                info.root = first.get("root")
            config = _get_json(client, base_url + "/config")
            if isinstance(config, dict) and config.get("server") == "hf":
                info.kind, info.config = "hf", config
                info.version = (config.get("versions") or {}).get("transformers")
            version = _get_json(client, base_url + "/version")
            if info.kind == "unknown" and isinstance(version, dict) and "version" in version:
                info.kind, info.version = "vllm", str(version["version"])
                info.config = _vllm_config(client, base_url)
        except httpx.HTTPError as exc:
            info.healthy = False
            info.error = f"{type(exc).__name__}: {exc}"
    if info.healthy and not info.models:
        info.error = "lists no model under /v1/models"
    return info


def _vllm_config(client: httpx.Client, base_url: str) -> dict[str, Any]:
    """The labels of vLLM's `vllm:cache_config_info` gauge (block size, KV-cache size, ...)."""
    try:
        text = client.get(base_url + "/metrics").text
    except httpx.HTTPError:
        return {}
    for line in text.splitlines():
        if line.startswith("vllm:cache_config_info{"):
            labels = line[line.index("{") + 1 : line.rindex("}")]
            return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
    return {}


def check_same_model(infos: list[ServerInfo]) -> list[str]:
    """Problems that stop a comparison: unhealthy servers, or servers serving different models."""
    problems = [
        f"{i.name} ({i.base_url}) is not ready: {i.error or 'unhealthy'}" for i in infos if not i.healthy
    ]
    problems += [f"{i.name}: {i.error}" for i in infos if i.healthy and i.error]
    if problems:
        return problems
    models = {i.name: i.model for i in infos}
    if len(set(models.values())) > 1:
        listed = ", ".join(f"{name} serves {model!r}" for name, model in models.items())
        problems.append(
            f"the targets serve different models ({listed}); give every server the same "
            "--served-model-name, or pass --model NAME"
        )
    return problems


def setting_warnings(infos: list[ServerInfo], *, random_weights: bool = False) -> list[str]:
    """Differences that do not stop a comparison but belong in its report.

    `random_weights` is what the run declares (`--random-weights`). Only the HF server reports its
    weights (`/config`); vLLM does not, so a server that says nothing is taken at the run's word.
    """
    warnings: list[str] = []
    lengths = {i.name: i.max_model_len for i in infos if i.max_model_len is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        warnings.append(
            f"the servers have different max context lengths ({listed}); the launch configuration "
            "gives both the same --max-model-len"
        )
    reported = {i.name: i.config.get("random_weights") for i in infos}
    real = [name for name, value in reported.items() if value is False]
    random = [name for name, value in reported.items() if value is True]
    if random_weights and real:
        warnings.append(f"the run declares random weights, but {', '.join(real)} serve(s) real weights")
    elif not random_weights and random:
        warnings.append(
            f"{', '.join(random)} serve(s) random weights; pass --random-weights if every server does "
            "(vLLM: --load-format dummy)"
        )
    return warnings
