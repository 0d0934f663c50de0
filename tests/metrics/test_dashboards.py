"""``examples/dashboards/``: the Prometheus configuration and alert rules pass ``promtool``, every dashboard
query is valid PromQL, and every metric the dashboard and the rules name exists in a real scrape: of a
``mesospaas serve --zk`` process (real ZooKeeper, a task running on localmesos) for the scheduler's, of the
lb's status endpoint for ``mesospaas_lb_*``."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aiohttp
from aiohttp.test_utils import TestServer

from scheduler.lb.status import LbMetrics, status_app
from tests.integration.test_ha import Instance, call, leader_of, running_ids, sleeper, start, zk_url
from tests.metrics.scrape import promtool
from tests.polling import wait_for

__all__ = ["start", "zk_url"]  # fixtures

DASHBOARDS = Path(__file__).resolve().parents[2] / "examples" / "dashboards"
METRIC = re.compile(r"\b(?:mesospaas|process|python)_[A-Za-z0-9_]*[A-Za-z0-9]")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
SAMPLE_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", re.MULTILINE)
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / "grafana-mesospaas.json").read_text())
    return loaded


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in expressions(value)]
    return []


def exposed(text: str) -> set[str]:
    """Every family and sample name a scrape shows (a family without samples yet still has its TYPE line)."""
    out = set(SAMPLE_LINE.findall(text))
    for name, kind in TYPE_LINE.findall(text):
        out.add(name)
        if kind == "histogram":
            out.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return out


def test_the_prometheus_config_and_the_alert_rules_pass_promtool() -> None:
    config = promtool("check", "config", "prometheus.yml", cwd=DASHBOARDS)
    assert config.returncode == 0, (config.stdout, config.stderr)
    assert "1 rule files found" in config.stdout
    rules = promtool("check", "rules", "alerts.yml", cwd=DASHBOARDS)
    assert rules.returncode == 0, (rules.stdout, rules.stderr)
    names = {rule["alert"] for rule in _alert_rules()}
    assert {"MesospaasNoLeader", "MesospaasDeploymentsFailing", "MesospaasLaunchQueueGrowing",
            "MesospaasOffersNotArriving"} <= names


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = expressions(dashboard()["panels"])
    assert len(queries) >= 30
    # Grafana's variables become what they stand for ("All" instances); promtool then parses each query.
    rules = [{"record": f"dashboard:query_{n}", "expr": q.replace("$instance", ".*")} for n, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, (checked.stdout, checked.stderr)


@pytest.mark.slow
async def test_every_metric_the_dashboard_and_rules_use_exists_in_a_scrape(
        zk_url: str, start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(zk_url, 1)
    leader = wait_for(lambda: leader_of(instances), 60, "the instance leading")
    status, body, _ = call("POST", f"{leader.url}/v2/apps", sleeper("/dash/web", 1))
    assert status == 201, body
    wait_for(lambda: running_ids(leader.url, "/dash/web", 1), 60, "the task running")
    with urllib.request.urlopen(f"{leader.url}/metrics/prometheus", timeout=15) as scraped:
        api_names = exposed(scraped.read().decode())
    async with aiohttp.ClientSession() as http:
        lb = TestServer(status_app(lambda: {}, LbMetrics()), host="127.0.0.1")
        async with lb:
            async with http.get(lb.make_url("/metrics/prometheus")) as resp:
                lb_names = exposed(await resp.text())
    used = set(METRIC.findall((DASHBOARDS / "grafana-mesospaas.json").read_text()))
    used |= set(METRIC.findall((DASHBOARDS / "alerts.yml").read_text()))
    assert len(used) >= 30
    missing = {name for name in used if name not in (lb_names if name.startswith("mesospaas_lb_") else api_names)}
    assert missing == set()


def _alert_rules() -> list[dict[str, Any]]:
    # The rules file is YAML; its alert names are read with a pattern (no YAML parser among the dependencies).
    text = (DASHBOARDS / "alerts.yml").read_text()
    return [{"alert": name} for name in re.findall(r"^\s*- alert: (\S+)$", text, re.MULTILINE)]
