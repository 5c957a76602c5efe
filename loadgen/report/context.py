"""The report's context sections: each server's exact configuration, the machine, the load
generator's self-check and the method (workload, definitions, how to reproduce)."""

from __future__ import annotations

from typing import Any

from loadgen.report.data import ReportData
from loadgen.report.doc import Block, Callout, Code, Table
from loadgen.report.ratios import format_value


def config_blocks(data: ReportData) -> list[Block]:
    """Per server: what it reported about itself and how it was launched."""
    blocks: list[Block] = []
    for series in data.series:
        s = series.server
        if not s:
            continue
        config = s.get("config") or {}
        rows = [
            ["kind", str(s.get("kind", "?"))],
            ["base URL", str(s.get("base_url", "?"))],
            ["model", str(s.get("model", "?"))],
            ["model directory", str(s.get("root") or "-")],
            ["max context (tokens)", str(s.get("max_model_len") or "-")],
            ["version (transformers)" if s.get("kind") == "hf" else "version", str(s.get("version") or "-")],
        ]
        for key in (
            "device",
            "dtype",
            "max_batch_size",
            "max_wait_ms",
            "burst_gap_ms",
            "max_queue",
            "batching",
            "sampling",
            "engine",
            "random_weights",
            "attn_implementation",
            "sdpa_backend",
            "sdpa_kernels",
            "attention_reason",
            "warmup",
            "block_size",
            "num_gpu_blocks",
            "num_cpu_blocks",
            "cache_dtype",
            "gpu_memory_utilization",
            "gpu_memory_gib",
            "cuda_alloc_conf",
            "enable_prefix_caching",
            "kv_cache_memory_bytes",
            "kv_cache_size_tokens",
        ):
            if key in config and config[key] not in (None, ""):
                rows.append([key, str(config[key])])
        rows += _launch_rows(s.get("kind"), s.get("launch") or {})
        versions = config.get("versions")
        if isinstance(versions, dict):
            rows.append(["versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)])
        blocks.append(Table(["setting", "value"], rows, caption=series.name))
        launch = s.get("launch")
        if launch:
            env = " ".join(f"{k}={v}" for k, v in (launch.get("env") or {}).items())
            blocks.append(
                Code(f"{env} \\\n  {launch.get('command', '')}" if env else str(launch.get("command", "")))
            )
    return blocks or ["The servers' configuration was not recorded (a `loadgen run` directory)."]


LAUNCH_FLAGS = (
    "--dtype",
    "--device",
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--load-format",
    "--gpu-memory-utilization",
    "--max-batch-size",
    "--max-wait-ms",
    "--burst-gap-ms",
)


def _launch_rows(kind: Any, launch: dict[str, Any]) -> list[list[str]]:
    """Settings read off the launch command and environment (vLLM reports few of them over HTTP)."""
    argv = [str(a) for a in launch.get("argv") or []]
    rows = [
        [f"launched with {flag}", argv[argv.index(flag) + 1]] for flag in LAUNCH_FLAGS if flag in argv[:-1]
    ]
    if "--enforce-eager" in argv:
        rows.append(["launched with --enforce-eager", "yes (no torch.compile / CUDA graphs)"])
    env = launch.get("env") or {}
    if "VLLM_CPU_KVCACHE_SPACE" in env:
        rows.append(["VLLM_CPU_KVCACHE_SPACE (GiB)", str(env["VLLM_CPU_KVCACHE_SPACE"])])
    if kind == "vllm" and argv and "--max-num-seqs" not in argv:
        rows.append(["max_num_seqs", "vLLM's default (128 on CPU, 256 on GPU for the API server)"])
    return rows


def machine_blocks(data: ReportData) -> list[Block]:
    """The machine each run was measured on."""
    blocks: list[Block] = []
    for run in data.runs:
        machine = run.meta.get("machine") or {}
        versions = machine.get("versions") or {}
        rows = [
            [k, str(machine.get(k, "-"))] for k in ("hostname", "platform", "machine", "cpu_count", "python")
        ]
        rows.insert(4, ["cpu_model", str(machine.get("cpu_model") or "-")])
        rows.insert(5, ["gpus", ", ".join(machine.get("gpus") or []) or "none seen (no nvidia-smi)"])
        rows.append(["versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "-"])
        rows.append(["boot id", str(machine.get("boot_id") or "-")])
        blocks.append(
            Table(["", "value"], rows, caption=f"machine of {run.label}" if len(data.runs) > 1 else None)
        )
    boots = [(run.meta.get("machine") or {}).get("boot_id") for run in data.runs]
    if None not in boots and len(set(boots)) > 1:
        blocks.insert(
            0,
            Callout(
                "warn",
                "These runs come from different machines (or boots of one): a difference between them "
                "is the hosts' as much as the servers'. Compare runs made back to back on one machine.",
            ),
        )
    return blocks


def selfcheck_blocks(data: ReportData) -> list[Block]:
    """Per server and level: whether the load generator kept up (lag, CPU, requests in flight)."""
    rows = []
    bound = 0
    for series in data.series:
        for level in data.levels:
            summary = series.summaries.get(level)
            if not summary:
                continue
            check = summary.get("selfcheck") or {}
            flag = bool(summary.get("client_bound"))
            bound += flag
            rows.append(
                [
                    series.name,
                    level,
                    format_value(check.get("loop_lag_p99_ms")),
                    f"{100 * (check.get('cpu_share_of_core') or 0):.0f}%",
                    f"{format_value(check.get('achieved_in_flight'))} / "
                    f"{format_value(check.get('target_in_flight'))}",
                    "CLIENT-BOUND: " + "; ".join(check.get("reasons") or []) if flag else "ok",
                ]
            )
    if not rows:
        return []
    verdict: Block = (
        Callout(
            "warn",
            f"The load generator was the bottleneck in {bound} level(s): those latencies "
            "include the client's own delay.",
        )
        if bound
        else Callout("ok", "The load generator kept up at every level: the latencies are the servers'.")
    )
    return [
        verdict,
        Table(
            [
                "server",
                "level",
                "event-loop lag p99 (ms)",
                "generator CPU (of one core)",
                "in flight (achieved / target)",
                "verdict",
            ],
            rows,
        ),
    ]


def method_blocks(data: ReportData) -> list[Block]:
    """Workload, request options, interleaving, metric definitions and the commands to reproduce."""
    meta = data.primary.meta
    workload = meta.get("workload") or {}
    request = meta.get("request") or {}
    plan = meta.get("plan") or {}
    blocks: list[Block] = []
    rows = [
        [
            "workload",
            ", ".join(
                f"{k} {v}" for k, v in workload.items() if v is not None and not isinstance(v, dict | list)
            ),
        ],
        [
            "request",
            ", ".join(
                f"{k} {v}"
                for k, v in request.items()
                if k in ("api", "stream", "max_tokens", "ignore_eos", "temperature") and v is not None
            ),
        ],
        ["seed", str(meta.get("seed", "-"))],
        ["SLOs (ms)", ", ".join(f"{k} {v:g}" for k, v in (meta.get("slo") or {}).items()) or "none given"],
    ]
    if plan:
        rows.append(
            [
                "levels",
                ", ".join(f"{level:g}" for level in plan.get("levels", []))
                + f" ({plan.get('mode', 'closed')} loop), warm-up "
                + ("one per concurrency slot" if plan.get("warmup") is None else str(plan.get("warmup"))),
            ]
        )
    blocks.append(Table(["", "value"], rows))
    if meta.get("kind") == "compare":
        blocks.append(
            "Every level runs on every server before the next level starts, alternating the order "
            "(A then B, then B then A, ...), so drift on a busy machine hits both alike. Every server "
            "gets the same prompts, seed and schedule: request `i` of a level is the same request "
            "everywhere. Warm-up requests are sent and recorded but left out of the statistics."
        )
    definitions = next(
        (
            s.get("metric_definitions")
            for series in data.series
            for s in series.summaries.values()
            if s.get("metric_definitions")
        ),
        None,
    )
    if isinstance(definitions, dict):
        blocks.append(Table(["metric", "definition"], [[k, str(v)] for k, v in definitions.items()]))
    command = meta.get("command")
    if command:
        blocks += ["Command that produced this run:", Code(str(command))]
    dirs = " ".join(str(run.saved.directory) for run in data.runs)
    blocks += [
        "Rebuild this report from the saved results (matplotlib needed for the plots):",
        Code(f"loadgen report {dirs}"),
    ]
    return blocks
