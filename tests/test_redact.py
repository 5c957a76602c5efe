"""Secrets never reach a file we write: headers, options, sk- keys and $OPENAI_API_KEY's value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadgen.redact import REDACTED, redact, redact_argv, redact_headers, redact_text, scrub_file
from tests.fixtures.procs import REPO_ROOT

KEY = "sk-proj-servebench-test-0123456789abcdef"
ENV_KEY = "plain-env-secret-value-42"


def test_headers_options_and_key_shapes_are_redacted() -> None:
    argv = [
        "--header",
        f"Authorization: Bearer {KEY}",
        "--header",
        "X-Api-Key: abc123xyz",
        "--api-key",
        "hunter2hunter2",
        "--token=t0k3n-value",
        "--api-key-env",
        "MY_KEY_VAR",
        "--max-tokens",
        "128",
        "--tokenizer",
        "/models/x",
    ]
    out = redact_argv(argv)
    joined = " ".join(out)
    for secret in (KEY, "abc123xyz", "hunter2hunter2", "t0k3n-value"):
        assert secret not in joined
    assert out[out.index("--api-key-env") + 1] == "MY_KEY_VAR"  # where the key comes from is not a secret
    assert out[out.index("--max-tokens") + 1] == "128" and out[out.index("--tokenizer") + 1] == "/models/x"
    assert redact_headers({"Authorization": "Bearer x", "api-key": "y", "X-Request-Id": "z"}) == {
        "Authorization": REDACTED,
        "api-key": REDACTED,
        "X-Request-Id": "z",
    }
    text = f"OPENAI_API_KEY={KEY} HF_TOKEN=hf_abcdef max_tokens: 128 curl -H 'Authorization: Bearer abc'"
    clean = redact_text(text)
    assert KEY not in clean and "hf_abcdef" not in clean and "Bearer abc" not in clean
    assert "max_tokens: 128" in clean


def test_env_key_values_are_scrubbed_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    assert ENV_KEY not in redact_text(f"connecting with {ENV_KEY} to http://x")
    nested = {"api_key": "whatever", "api_key_env": "OPENAI_API_KEY", "deep": [{"note": f"key={ENV_KEY}"}]}
    assert redact(nested) == {
        "api_key": REDACTED,
        "api_key_env": "OPENAI_API_KEY",
        "deep": [{"note": f"key={REDACTED}"}],
    }


def test_server_logs_are_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    log = tmp_path / "vllm.log"
    log.write_text(f"INFO non-default args: {{'api_key': '{KEY}'}}\nINFO key {ENV_KEY} loaded\nINFO ready\n")
    scrub_file(log)
    text = log.read_text()
    assert KEY not in text and ENV_KEY not in text and "INFO ready" in text


def test_a_run_writes_no_secret_anywhere(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "one"}\n')
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadgen",
            "run",
            "--sim",
            "--sim-arg",
            "--ttft-ms 1 --itl-ms 1 --output-tokens 4",
            "--dataset-path",
            str(prompts),
            "--num-requests",
            "4",
            "--max-tokens",
            "4",
            "--header",
            f"Authorization: Bearer {KEY}",
            "--header",
            "x-api-key: second-secret-123",
            "--server-metrics-interval",
            "0.2",
            "--output-dir",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        env={**os.environ, "OPENAI_API_KEY": ENV_KEY},
    )
    assert proc.returncode == 0, proc.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"run.json", "requests.jsonl"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        for secret in (KEY, "second-secret-123", ENV_KEY):
            assert secret.encode() not in data, (path.name, secret)
    for secret in (KEY, "second-secret-123", ENV_KEY):
        assert secret not in proc.stdout + proc.stderr
    meta = orjson.loads((out / "run.json").read_bytes())
    assert f"Authorization: {REDACTED}" in meta["command"]
    assert meta["request"]["extra_headers"] == {"Authorization": REDACTED, "x-api-key": REDACTED}
