"""The Flink cluster as a Dagster resource: REST for everything a sensor does, `flink run`
for submissions, and (embedded profile) the local standalone cluster's lifecycle.

`rest_url` set (`FLINK_REST_URL`) → an existing cluster; unset → the local cluster under
`<data dir>/flink` on `local_rest_port`, started by the demo or on the first submission.
"""

import datetime as dt
import json
from pathlib import Path

from dagster import ConfigurableResource

from analytics_lib.flink_cluster import cluster as flink_cluster
from analytics_lib.flink_cluster.cluster import FlinkRest, JobSummary, LocalFlinkCluster
from analytics_lib.project import data_dir


class FlinkResource(ConfigurableResource):
    rest_url: str = ""
    local_rest_port: int = 8081
    local_rpc_port: int = 6123
    local_slots: int = 4
    # Where jobs put dead letters; must be a path (or URI) the TaskManagers can write.
    dead_letter_dir: str = ""
    # What the jobs read: "staging" follows the raw log's landing notices (the file
    # source in the wheel; the TaskManagers must reach the raw log's filesystem), "kafka"
    # reads the collector's topic.
    source: str = "staging"
    kafka_bootstrap_servers: str = ""
    kafka_topic: str = "user-behaviors"

    def state_dir(self) -> Path:
        return data_dir() / "flink"

    def local_cluster(self) -> LocalFlinkCluster | None:
        if self.rest_url:
            return None
        return LocalFlinkCluster(
            self.state_dir(), self.local_rest_port, self.local_rpc_port, self.local_slots
        )

    def url(self) -> str:
        return self.rest_url or f"http://localhost:{self.local_rest_port}"

    def rest(self) -> FlinkRest:
        return FlinkRest(self.url())

    def ensure_cluster(self) -> str:
        """The REST URL of a reachable cluster; starts the local one when embedded."""
        local = self.local_cluster()
        if local is not None:
            return local.start()
        if not self.rest().reachable():
            raise flink_cluster.FlinkUnavailable(f"no Flink cluster answers at {self.rest_url}")
        return self.rest_url

    def dead_letters(self) -> str:
        return self.dead_letter_dir or str(self.state_dir() / "dead_letters")

    def source_settings(self, notices_dir: str) -> dict[str, object]:
        """The source part of a job's settings (`flink/stream_jobs/settings.py`)."""
        if self.source == "staging":
            return {"source": "staging", "notices_dir": notices_dir}
        if self.source != "kafka":
            raise ValueError(
                f"FlinkResource.source must be 'staging' or 'kafka', not {self.source!r}"
            )
        if not self.kafka_bootstrap_servers:
            raise ValueError("FlinkResource.source is 'kafka' but kafka_bootstrap_servers is empty")
        if self.local_cluster() is not None:  # a remote cluster has it in its lib/
            from analytics_lib.flink_cluster.connectors import require_kafka_connector

            require_kafka_connector()
        return {
            "source": "kafka",
            "kafka_bootstrap_servers": self.kafka_bootstrap_servers,
            "kafka_topic": self.kafka_topic,
        }

    # -- job lifecycle -----------------------------------------------------------------
    def active_copies(self, job: str) -> list[JobSummary]:
        return [j for j in self.rest().jobs() if j.name == job and j.active]

    def restore_point(self, job: str) -> str | None:
        """The newest checkpoint/savepoint of an earlier run of `job`: from the cluster's
        job history while it remembers them, else from the launch record and the local
        checkpoint folders (a restarted local cluster forgets its history)."""
        rest = self.rest()
        earlier = sorted(
            (j for j in rest.jobs() if j.name == job and not j.active),
            key=lambda j: j.start_time_ms,
            reverse=True,
        )
        for summary in earlier:
            point = rest.latest_restore_point(summary.job_id)
            if point:
                return point
        return self._newest_local_checkpoint(job)

    def submit(self, job: str, settings: dict[str, object], restore_from: str | None) -> str:
        url = self.ensure_cluster()
        work = self.state_dir() / "submissions" / job
        bundle = flink_cluster.build_bundle(work / "bundle")
        job_id = flink_cluster.submit(
            url, job, json.dumps(settings, sort_keys=True), bundle, restore_from, work_dir=work
        )
        record = {
            "job": job,
            "job_id": job_id,
            "restored_from": restore_from,
            "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        with open(self.state_dir() / "launches.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        return job_id

    def _newest_local_checkpoint(self, job: str) -> str | None:
        launches = self.state_dir() / "launches.jsonl"
        if self.rest_url or not launches.exists():
            return None
        job_ids = [
            record["job_id"]
            for record in map(json.loads, launches.read_text().splitlines())
            if record["job"] == job
        ]
        metadata = [
            path
            for job_id in job_ids
            for path in (self.state_dir() / "checkpoints" / job_id).glob("chk-*/_metadata")
        ]
        if not metadata:
            return None
        newest = max(metadata, key=lambda p: p.stat().st_mtime)
        return f"file:{newest.parent}"
