"""`ComparePlan`: everything a comparison does, as one value (recorded in `run.json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from loadgen.run_config import LoadSpec, RequestOptions
from loadgen.stats import SLO

ParityMode = Literal["gate", "report"]
"""`gate`: a failed parity probe stops the comparison before the sweep; `report`: sweep anyway."""

DEFAULT_BATCHES: tuple[int, ...] = (4, 8, 16, 32)


@dataclass(frozen=True)
class ComparePlan:
    """The sweep, the offline batches and the gates of one comparison."""

    mode: Literal["closed", "open"] = "closed"
    levels: tuple[float, ...] = (1, 4, 16)
    """Concurrencies (closed loop) or request rates in req/s (open loop)."""
    requests_per_level: int | None = None
    """Measured requests per level; None: `requests_per_slot` per concurrency slot, at least `min_requests`
    (open loop: 8 s of arrivals)."""
    requests_per_slot: int = 4
    min_requests: int = 8
    warmup: int | None = None
    """Warm-up requests per level; None: one per concurrency slot."""
    max_concurrency: int | None = None
    """Open loop: cap on requests in flight."""
    arrival: Literal["constant", "poisson", "gamma"] = "poisson"
    burstiness: float = 1.0
    """Open loop, gamma arrivals: the shape (1 = Poisson; lower is burstier)."""
    repeats: int = 1
    """Runs of each level on each target, interleaved (A B, B A, ...)."""
    rerun_client_bound: bool = False
    """Run a level once more when the load generator was the bottleneck in any of its runs."""
    capacity_search: bool = False
    """After the sweep, search each target's highest rate with goodput >= 90% under the SLOs."""
    capacity_max_rate: float = 64.0
    capacity_steps: int = 12
    capacity_min_rate: float | None = None
    """Lowest rate the search tries (None: `capacity_max_rate / 2**20`)."""
    seed: int = 0
    offline_batches: tuple[int, ...] = DEFAULT_BATCHES
    parity: ParityMode = "gate"
    probe_prompts: int = 8
    """Fixed prompts of the greedy parity probe (at most 8)."""
    probe_tokens: int = 32
    """Tokens each probe prompt asks for."""
    random_weights: bool = False
    """Every server has random weights: the greedy token-agreement gate is skipped."""
    random_values: bool = False
    """The served directory's weights are random values saved once (`hf-server init-weights`), the
    same on every server: the first greedy token of each probe prompt must agree (later tokens part
    on rounding: random weights have nearly flat logits), and the text (arbitrary tokens) need not
    re-tokenize to the count generated, so the usage gate checks output counts across servers only."""
    baseline: str | None = None
    """Target the speed-ups are relative to; None: `hf` if present, else the last target."""

    def loads(self) -> list[LoadSpec]:
        """One `LoadSpec` per level, the same for every target."""
        return [self._load(level) for level in self.levels]

    def _load(self, level: float) -> LoadSpec:
        if self.mode == "closed":
            concurrency = int(level)
            count = self.requests_per_level or max(self.min_requests, self.requests_per_slot * concurrency)
            warmup = self.warmup if self.warmup is not None else concurrency
            return LoadSpec(
                mode="closed",
                concurrency=concurrency,
                num_requests=count,
                warmup_requests=warmup,
                seed=self.seed,
            )
        count = self.requests_per_level or max(self.min_requests, round(8 * level))
        warmup = self.warmup if self.warmup is not None else 1
        return LoadSpec(
            mode="open",
            rate=float(level),
            concurrency=self.max_concurrency,
            arrival=self.arrival,
            burstiness=self.burstiness,
            num_requests=count,
            warmup_requests=warmup,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict for `run.json`."""
        return asdict(self)


def choose_baseline(names: list[str], wanted: str | None) -> str:
    """The baseline target: `wanted`, else `hf` if present, else the last target."""
    if wanted is not None:
        if wanted not in names:
            raise ValueError(f"--baseline {wanted!r} is not one of the targets ({', '.join(names)})")
        return wanted
    return "hf" if "hf" in names else names[-1]


def request_summary(request: RequestOptions, slo: SLO | None) -> dict[str, Any]:
    """The per-request options as recorded in `run.json`."""
    data = {k: v for k, v in asdict(request).items() if k != "extra_body"}
    data["extra_body"] = dict(request.extra_body)
    data["slo"] = None if slo is None else {k: v for k, v in asdict(slo).items() if v is not None}
    return data
