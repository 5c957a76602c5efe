"""locust's real web UI in a real headless Chromium (Debian's): start a swarm, see TTFT rows, stop it.

Playwright drives `/usr/bin/chromium` (never a downloaded browser). The same locust process's
`/metrics` is scraped while the swarm runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen.launcher import wait_healthy
from tests.fixtures.locust import LocustProcess, start_locust, workload_args
from tests.fixtures.procs import REPO_ROOT, ServerProcess, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERS = 3


@pytest.fixture
def web_locust(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path
) -> Iterator[tuple[LocustProcess, str]]:
    """A single-process locust with its web UI on a free port, the host left for the form to fill."""
    port = free_port()
    args = ["--web-host", "127.0.0.1", "--web-port", str(port), *workload_args(jsonl_prompts)]
    with start_locust(args, tmp_path, "webui") as locust:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(locust.launched, url + "/", timeout_s=60)
        yield locust, url


def metrics_of(url: str) -> dict[str, float]:
    """`/metrics` samples summed by name (over targets and outcomes)."""
    sums: dict[str, float] = {}
    text = httpx.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def wait_for_metric(url: str, name: str, value: float, timeout_s: float = 15) -> dict[str, float]:
    """Poll `/metrics` until `name` reads `value`; return the samples then."""
    deadline = time.monotonic() + timeout_s
    samples = metrics_of(url)
    while samples.get(name) != value and time.monotonic() < deadline:
        time.sleep(0.2)
        samples = metrics_of(url)
    assert samples.get(name) == value, (name, samples.get(name))
    return samples


@pytest.mark.browser
def test_swarm_started_from_the_web_ui_shows_ttft_rows_and_stops(
    web_locust: tuple[LocustProcess, str], sim_server: ServerProcess
) -> None:
    from playwright.sync_api import expect, sync_playwright

    locust, url = web_locust
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.locator("input[name=userCount]").fill(str(USERS))
            page.locator("input[name=spawnRate]").fill(str(USERS))
            page.locator("input[name=host]").fill(sim_server.base_url)
            page.get_by_text("Custom parameters").click()
            expect(page.get_by_role("textbox", name=re.compile(r"^Max Tokens"))).to_have_value("128")
            page.get_by_role("textbox", name=re.compile(r"^Target Name")).fill("from-the-form")
            page.get_by_role("button", name="Start").click()

            ttft_row = page.locator("tr", has=page.locator("td", has_text="TTFT"))
            expect(ttft_row.first).to_be_visible(timeout=30_000)
            expect(page.locator("tr", has=page.locator("td", has_text="ITL")).first).to_be_visible()
            expect(page.locator("tr", has=page.locator("td", has_text="TPOT")).first).to_be_visible()

            running = wait_for_metric(url, "locust_users", USERS)
            assert running["locust_requests_total"] > 0
            assert running["locust_time_to_first_token_seconds_count"] > 0
            assert 'target="from-the-form"' in httpx.get(url + "/metrics", timeout=10).text

            page.get_by_role("button", name="Stop").click()
            expect(page.get_by_text("STOPPED", exact=False).first).to_be_visible(timeout=30_000)
        finally:
            browser.close()
    wait_for_metric(url, "locust_users", 0)
    assert "Traceback" not in locust.log()


SECRET = "sk-servebench-webui-secret-0123456789"


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(".".join(str(b) for b in bytes.fromhex(address)[::-1]))
            else:
                found.add("::" if int(address, 16) == 0 else address)
    return found


def test_web_ui_binds_to_loopback_and_keeps_the_api_key_out_of_the_page(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    results = tmp_path / "results"
    args = [
        "--web-port",
        str(port),
        "--host",
        sim_server.base_url,
        "--api-key",
        SECRET,
        "--results-dir",
        str(results),
        *workload_args(jsonl_prompts),
    ]
    with start_locust(args, tmp_path, "webui-secret") as locust:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(locust.launched, url + "/", timeout_s=60)
        assert listening_addresses(port) == {"127.0.0.1"}
        locust.wait_for_log(f"Starting web interface at http://127.0.0.1:{port}")
        page = httpx.get(url + "/", timeout=10).text
        assert "extra_options" in page or "extraOptions" in page  # the template args are in the page
        assert SECRET not in page
        assert "api_key" not in page  # no field for it at all: its value would be the field's default
        swarm = httpx.post(
            url + "/swarm", data={"user_count": 1, "spawn_rate": 1, "host": sim_server.base_url}
        )
        assert swarm.status_code == 200
        wait_for_metric(url, "locust_users", 1)
        time.sleep(1.0)
        for endpoint in ("/stats/requests", "/stats/requests/csv", "/stats/failures/csv", "/stats/report"):
            assert SECRET not in httpx.get(url + endpoint, timeout=10).text, endpoint
        assert httpx.post(url + "/stop", timeout=10).status_code == 200
        wait_for_metric(url, "locust_users", 0)
    written = [p for p in results.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert any(p.name == "run.json" for p in written)
    for path in written:
        assert SECRET not in path.read_text(), path
    assert SECRET not in locust.log() + locust.stdout()


def test_compose_opens_the_web_ui_inside_its_container_only() -> None:
    import yaml

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    master = compose["services"]["locust-master"]
    command = master["command"]
    assert command[command.index("--web-host") + 1] == "0.0.0.0"  # reachable through the port mapping
    assert master["ports"][0].startswith("${LOCUST_BIND:-127.0.0.1}:")  # which binds loopback on the host


def test_headless_json_csv_html_and_results_carry_no_api_key(
    sim_server: ServerProcess, jsonl_prompts: Path, tmp_path: Path
) -> None:
    from tests.fixtures.locust import run_locust

    secret = "plain-locust-key-987654"  # no sk- shape: only knowing the option can hide it
    csv_prefix, html = tmp_path / "stats", tmp_path / "report.html"
    run = run_locust(
        [
            "--headless",
            "-u",
            "1",
            "-r",
            "1",
            "--run-time",
            "3s",
            "--json",
            "--csv",
            str(csv_prefix),
            "--html",
            str(html),
            "--host",
            sim_server.base_url,
            "--api-key",
            secret,
            *workload_args(jsonl_prompts),
        ],
        results_root=tmp_path / "results",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.entry("TTFT")["num_requests"] > 0
    assert secret not in run.stdout + run.stderr
    written = [
        p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".csv", ".html", ".json", ".jsonl")
    ]
    assert html in written and any(p.name == "run.json" for p in written)
    for path in written:
        assert secret not in path.read_text(errors="replace"), path
