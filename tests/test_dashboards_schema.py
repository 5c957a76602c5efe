"""The Grafana dashboards and provisioning, checked offline as far as Grafana's schema allows:
ids, datasource uids, variables, grid positions, PromQL syntax (promtool) and the provisioning paths
the compose file mounts. tests/test_dashboards_live.py runs every query against a real Prometheus."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.procs import REPO_ROOT
from tests.fixtures.prometheus import (
    GRAFANA_BUILTINS,
    PROVISIONING_DIR,
    all_panels,
    dashboard_files,
    dashboard_queries,
    load_dashboard,
    provisioned_datasource_uid,
    substitute,
    used_variables,
    variable_query,
)

BOARDS = {path.name: load_dashboard(path) for path in dashboard_files()}
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
PANEL_TYPES = {"row", "timeseries", "stat"}
GRID_WIDTH = 24


def boards() -> list[Any]:
    return [pytest.param(board, id=name) for name, board in BOARDS.items()]


def test_dashboard_files_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dashboards" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_there_is_a_comparison_and_a_client_dashboard_with_unique_uids() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    assert sorted(uids) == ["servebench-client", "servebench-comparison"]
    for name, board in BOARDS.items():
        assert name == f"{board['uid']}.json"
        assert isinstance(board["schemaVersion"], int) and board["title"]


@pytest.mark.parametrize("board", boards())
def test_panel_ids_are_unique_positive_integers(board: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in all_panels(board)]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("board", boards())
def test_every_panel_has_a_known_type_and_a_title(board: dict[str, Any]) -> None:
    for panel in all_panels(board):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel["description"], panel["title"]


@pytest.mark.parametrize("board", boards())
def test_every_datasource_is_the_provisioned_one(board: dict[str, Any]) -> None:
    uid = provisioned_datasource_uid()
    refs = [v["datasource"] for v in board["templating"]["list"] if v["type"] == "query"]
    for panel in all_panels(board):
        if panel["type"] != "row":
            refs += [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
    assert refs
    assert all(ref == {"type": "prometheus", "uid": uid} for ref in refs), refs


@pytest.mark.parametrize("board", boards())
def test_every_variable_used_is_defined(board: dict[str, Any]) -> None:
    defined = {v["name"] for v in board["templating"]["list"]}
    texts = [variable_query(v) for v in board["templating"]["list"]]
    for panel in all_panels(board):
        texts.append(panel["title"])
        texts += [t.get("expr", "") + " " + t.get("legendFormat", "") for t in panel.get("targets", [])]
    used = set().union(*(used_variables(text) for text in texts))
    assert used - defined - GRAFANA_BUILTINS == set()


@pytest.mark.parametrize("board", boards())
def test_variables_only_use_variables_defined_before_them(board: dict[str, Any]) -> None:
    seen: set[str] = set()
    for variable in board["templating"]["list"]:
        assert used_variables(variable_query(variable)) <= seen, variable["name"]
        seen.add(variable["name"])


@pytest.mark.parametrize("board", boards())
def test_the_dashboard_has_model_and_server_variables(board: dict[str, Any]) -> None:
    names = [v["name"] for v in board["templating"]["list"]]
    assert names[:2] == ["model", "server"]


@pytest.mark.parametrize("board", boards())
def test_grid_positions_fit_the_grid_and_do_not_overlap(board: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= GRID_WIDTH, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("board", boards())
def test_target_ref_ids_are_unique_within_each_panel(board: dict[str, Any]) -> None:
    for panel in all_panels(board):
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]


def test_latency_means_divide_sum_by_count() -> None:
    means = [q.expr for q in dashboard_queries() if "_sum{" in q.expr]
    assert means
    for expr in means:
        assert "_count{" in expr and " / " in expr, expr


def test_dashboard_links_point_at_dashboards_that_exist() -> None:
    uids = {board["uid"] for board in BOARDS.values()}
    for board in BOARDS.values():
        for link in board["links"]:
            assert link["url"].removeprefix("/d/") in uids


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make system` (Debian's prometheus package)")
    values = {"model": "m", "server": "vllm|hf", "target": "vllm|hf"}
    rules = [
        {"record": f"servebench:check_{i}", "expr": substitute(q.expr, values)}
        for i, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def mounts(service: str) -> dict[str, str]:
    """{container path: host path} of a compose service's bind mounts."""
    out = {}
    for volume in COMPOSE["services"][service]["volumes"]:
        host, container = volume.split(":")[:2]
        if host.startswith("./"):
            out[container] = host
    return out


def test_grafana_loads_the_dashboards_folder_the_compose_file_mounts() -> None:
    provider = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "servebench.yml").read_text())
    provider = provider["providers"][0]
    grafana = mounts("grafana")
    assert grafana[provider["options"]["path"]] == "./dashboards"
    assert grafana["/etc/grafana/provisioning"] == "./docker/grafana/provisioning"
    home = COMPOSE["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent.as_posix() == provider["options"]["path"]
    assert Path(home).name in BOARDS


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    datasources = yaml.safe_load((PROVISIONING_DIR / "datasources" / "prometheus.yml").read_text())
    datasource = datasources["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in COMPOSE["services"]
    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"] == "./docker/prometheus/prometheus.yml"
