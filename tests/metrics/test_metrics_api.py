"""The metrics routes on a scheduler running real tasks on localmesos: what the meters say after an app is
deployed, both formats from one registry, Prometheus' naming rules (``promtool check metrics``), the bound on
per-app series, and what the released ``marathon`` client reads from ``GET /metrics``."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer
from marathon import MarathonClient

from api.routes_metrics import bucket_quantile, dropwizard_json
from scheduler.metrics import OTHER_APPS, Metrics
from tests.integration.conftest import RuntimeHandle
from tests.metrics.scrape import parse, promtool, value
from tests.polling import eventually


async def scrape(server: TestServer, path: str = "/metrics/prometheus", accept: str | None = None) -> str:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url(path), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.text()


async def deploy(server: TestServer, app_id: str, instances: int) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": instances}
        async with http.post(server.make_url("/v2/apps"), json=body) as resp:
            assert resp.status == 201, await resp.text()


async def running(server: TestServer, app_id: str, count: int) -> bool:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url(f"/v2/apps{app_id}")) as resp:
            return bool((await resp.json())["app"]["tasksRunning"] == count)


async def test_a_deployed_app_shows_in_every_meter_and_promtool_accepts_the_scrape(served: TestServer) -> None:
    await deploy(served, "/shop/web", 2)
    await eventually(lambda: running(served, "/shop/web", 2), what="2 tasks running")
    async def succeeded() -> str | None:
        text = await scrape(served)
        done = value(parse(text), "mesospaas_deployments_finished_total", outcome="succeeded")
        return text if done == 1 else None
    text = await eventually(succeeded, what="the deployment counted as succeeded")
    samples = parse(text)
    assert value(samples, "mesospaas_app_instances", app="/shop/web", condition="Running") == 2
    assert value(samples, "mesospaas_apps") == 1
    assert (value(samples, "mesospaas_offers_received_total") or 0) >= 1
    assert (value(samples, "mesospaas_offers_used_total") or 0) >= 1
    assert (value(samples, "mesospaas_placement_decisions_total", outcome="launched") or 0) >= 2
    assert (value(samples, "mesospaas_placement_duration_seconds_count") or 0) >= 1
    assert (value(samples, "mesospaas_status_updates_total", state="TASK_RUNNING") or 0) >= 2
    assert (value(samples, "mesospaas_task_launch_duration_seconds_count") or 0) == 2
    assert (value(samples, "mesospaas_task_reconciliations_total") or 0) >= 1
    assert value(samples, "mesospaas_deployments_finished_total", outcome="succeeded") == 1
    assert value(samples, "mesospaas_deployments_running", paused="false") == 0
    assert value(samples, "mesospaas_launch_queue_instances", delayed="false") == 0
    assert value(samples, "mesospaas_leader") == 1
    assert value(samples, "mesospaas_mesos_subscribed") == 1
    assert (value(samples, "mesospaas_store_operation_duration_seconds_count", operation="commit") or 0) >= 1
    # requests are labelled by route template, not by the raw path
    assert value(samples, "mesospaas_api_requests_total", method="POST", route="/v2/apps", status="201") == 1
    assert (value(samples, "mesospaas_api_requests_total", method="GET", route="/v2/apps/{app_id}",
                  status="200") or 0) >= 1
    assert not any("/v2/apps/shop/web" in dict(labels).get("route", "") for _, labels in samples)
    assert (value(samples, "mesospaas_api_request_duration_seconds_count", method="POST", route="/v2/apps")
            == 1)
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout, checked.stderr)


async def test_openmetrics_when_the_accept_header_asks(served: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served.make_url("/metrics/prometheus"),
                            headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await resp.text()
        async with http.get(served.make_url("/metrics/prometheus")) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert text.endswith("# EOF\n")
    assert "# TYPE mesospaas_offers_received counter" in text  # OpenMetrics names the family without _total
    assert "mesospaas_offers_received_total " in text


async def test_unmatched_paths_are_one_series(served: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/nothing/1", "/nothing/2", "/v2/nothing"):
            async with http.get(served.make_url(path)) as resp:
                assert resp.status == 404
    samples = parse(await scrape(served))
    assert value(samples, "mesospaas_api_requests_total", method="GET", route="unmatched", status="404") == 3


async def test_apps_beyond_the_cap_are_summed_under_other(served: TestServer, scheduler: RuntimeHandle) -> None:
    assert scheduler.runtime is not None
    scheduler.runtime.metrics.max_apps = 1
    await deploy(served, "/a", 1)
    await deploy(served, "/b", 2)
    await eventually(lambda: running(served, "/b", 2), what="/b running")
    await eventually(lambda: running(served, "/a", 1), what="/a running")
    samples = parse(await scrape(served))
    apps = {dict(labels).get("app") for name, labels in samples if name == "mesospaas_app_instances"}
    assert apps == {"/a", OTHER_APPS}
    assert value(samples, "mesospaas_app_instances", app=OTHER_APPS, condition="Running") == 2
    assert value(samples, "mesospaas_apps") == 2


async def test_the_released_client_reads_the_same_meters_as_dropwizard_json(served: TestServer) -> None:
    await deploy(served, "/one", 1)
    await eventually(lambda: running(served, "/one", 1), what="/one running")
    client = MarathonClient(str(served.make_url("")).rstrip("/"))
    document = await asyncio.to_thread(client.get_metrics)
    assert set(document) == {"version", "counters", "gauges", "histograms", "meters", "timers"}
    assert document["gauges"]['mesospaas_app_instances{app="/one",condition="Running"}'] == {"value": 1}
    assert document["counters"]["mesospaas_offers_received_total"]["count"] >= 1
    launch = document["timers"]["mesospaas_task_launch_duration_seconds"]
    assert launch["count"] == 1 and launch["duration_units"] == "seconds"
    assert 0 < launch["p50"] <= launch["p99"]
    assert document["counters"]['mesospaas_api_requests_total{method="POST",route="/v2/apps",status="201"}'] == {
        "count": 1}
    # one registry behind both routes: the text format has the same series
    samples = parse(await scrape(served))
    assert value(samples, "mesospaas_app_instances", app="/one", condition="Running") == 1
    assert value(samples, "mesospaas_task_launch_duration_seconds_count") == 1


def test_quantiles_are_interpolated_inside_buckets() -> None:
    buckets = [(0.1, 0.0), (1.0, 10.0), (10.0, 20.0), (float("inf"), 20.0)]
    assert bucket_quantile(0.5, buckets) == 1.0
    assert bucket_quantile(0.25, buckets) == 0.1 + 0.9 * 0.5
    assert bucket_quantile(0.75, buckets) == 1.0 + 9.0 * 0.5
    assert bucket_quantile(0.5, []) == 0.0
    assert bucket_quantile(0.99, [(1.0, 1.0), (float("inf"), 5.0)]) == 1.0  # past the last bound: that bound


async def test_a_histogram_becomes_a_dropwizard_timer() -> None:
    metrics = Metrics(process=False)
    for seconds in (0.002, 0.004, 0.2):
        metrics.placement_duration.observe(seconds)
    document = dropwizard_json(await metrics.families())
    timer = document["timers"]["mesospaas_placement_duration_seconds"]
    assert timer["count"] == 3 and abs(timer["sum"] - 0.206) < 1e-9
    assert 0.0025 <= timer["p50"] <= 0.005 and 0.1 <= timer["p99"] <= 0.25
    assert document["gauges"]["mesospaas_leader"] == {"value": 1}  # no leader election: it always leads
    assert document["meters"] == {}


async def test_event_stream_subscribers_are_counted(served: TestServer) -> None:
    assert value(parse(await scrape(served)), "mesospaas_event_stream_subscribers") == 0
    async with aiohttp.ClientSession() as http:
        async with http.get(served.make_url("/v2/events"), headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status == 200
            await stream.content.readuntil(b"\r\n\r\n")  # event_stream_attached: subscribed
            assert value(parse(await scrape(served)), "mesospaas_event_stream_subscribers") == 1

    async def gone() -> bool:
        return value(parse(await scrape(served)), "mesospaas_event_stream_subscribers") == 0
    await eventually(gone, what="the subscriber gone after the client closed")
