"""sim-server: an OpenAI-compatible server whose timing is set exactly and which records the truth.

It streams `/v1/completions` and `/v1/chat/completions` byte-for-byte as vLLM does, with a set time
to first token (`--ttft-ms`), inter-token delay (`--itl-ms`, 0 = as fast as possible), jitter,
output length, batching-like slowdown, a concurrency cap with a queue, and injected faults (by
`--fault`/`--fault-every` or per request with the `X-Sim-Fault` header). For every request it records
the true server-side timing (`time.perf_counter_ns`, the clock clients on the same host use) at
`GET /sim/truth` and optionally in a JSONL file, so a client's measurements can be checked against
what really happened. See docs/sim-server.md.

Modules: `config` (settings), `params` (request validation), `vocab` (generated text, prompt
counting), `wire` (pre-encoded response bytes), `pacing` (delays), `admission` (concurrency cap),
`timer` (precise deadlines), `httpproto` (HTTP/1.1 on asyncio + httptools), `generate` (one
generation request), `pump` (timed-mode token writer), `truth`, `metrics`, `app` (routes, running),
`__main__` (the CLI), `selfbench` (measures the server's own event rate and CPU per event).
"""
