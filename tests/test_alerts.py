"""Alerting: incidents de-duplicated across ticks, delivered to a local HTTP receiver that
plays both Slack's Web API and a generic webhook."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    build_sensor_context,
    materialize,
)

from analytics_assets.alerts.notifier import AlertNotifier
from analytics_assets.alerts.sensor import alert_sensor
from analytics_lib.incidents import (
    AlertState,
    Incident,
    check_notifications,
    delivered,
)


def test_each_incident_fires_once_and_resolves_once() -> None:
    state = AlertState()
    broken = Incident("check:a:fresh", "check", "a: fresh", "3 h old")
    for _ in range(3):  # the check keeps failing on every tick
        for notification in check_notifications(state, [broken]):
            delivered(state, notification)
    assert list(state.open) == ["check:a:fresh"]
    state = AlertState.from_cursor(state.to_cursor())  # the cursor round-trips
    (resolved,) = check_notifications(state, [])
    assert resolved.state == "resolved" and resolved.incident == broken
    delivered(state, resolved)
    assert check_notifications(state, []) == [] and state.open == {}


class Receiver:
    """A loopback HTTP server recording JSON bodies; `fail` makes it answer 500."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.fail = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.requests.append((self.path, json.loads(body or b"{}")))
                answer = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list[dict]:
        return [body for p, body in self.requests if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()


HEALTHY = {"value": True}


@asset
def orders_table() -> None:
    """Stands in for any asset of the code location."""


@asset_check(asset=orders_table)
def orders_fresh() -> AssetCheckResult:
    return AssetCheckResult(
        passed=HEALTHY["value"],
        severity=AssetCheckSeverity.ERROR,
        description="newest partition is 5 h old" if not HEALTHY["value"] else "fresh",
    )


@asset
def broken_table() -> None:
    raise RuntimeError("upstream file missing")


def test_sensor_alerts_once_per_incident_then_resolves(receiver: Receiver) -> None:
    notifier = AlertNotifier(
        slack_token="xoxb-test",
        slack_channel="#data-alerts",
        slack_api_url=f"{receiver.url}/slack/",
        webhook_url=f"{receiver.url}/hook",
        dagster_ui_url="http://dagster.example",
    )
    defs = Definitions(
        assets=[orders_table, broken_table],
        asset_checks=[orders_fresh],
        sensors=[alert_sensor],
        resources={"alert_notifier": notifier},
    )
    cursor: str | None = None

    def tick() -> None:
        nonlocal cursor
        context = build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"alert_notifier": notifier},
        )
        alert_sensor(context)
        cursor = context.cursor

    with DagsterInstance.ephemeral() as instance:
        HEALTHY["value"] = False
        materialize([orders_table, orders_fresh], instance=instance)
        tick()
        tick()  # still failing: nothing new
        (firing,) = receiver.bodies("/hook")
        assert firing["state"] == "firing" and firing["key"] == "check:orders_table:orders_fresh"
        assert "newest partition is 5 h old" in firing["text"]
        (slack,) = receiver.bodies("/slack/chat.postMessage")
        assert slack["channel"] == "#data-alerts" and "FAILING" in slack["text"]

        # a failed run: one alert, not repeated
        failed = materialize([broken_table], instance=instance, raise_on_error=False)
        assert not failed.success
        tick()
        tick()
        runs = [b for b in receiver.bodies("/hook") if b["kind"] == "run"]
        assert len(runs) == 1 and runs[0]["url"] == f"http://dagster.example/runs/{failed.run_id}"

        # recovery while the receiver is down: retried, then exactly one resolved message
        HEALTHY["value"] = True
        materialize([orders_table, orders_fresh], instance=instance)
        receiver.fail = True
        tick()
        receiver.fail = False
        tick()
        tick()
        states = [b["state"] for b in receiver.bodies("/hook") if b["kind"] == "check"]
        assert states == ["firing", "resolved"]
        assert len(receiver.bodies("/slack/chat.postMessage")) == 3  # firing, run, resolved
