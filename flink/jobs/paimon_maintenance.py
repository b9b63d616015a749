"""Java Paimon's own maintenance of one table, as one Flink batch submission
(`flink run -py flink/jobs/paimon_maintenance.py -- --settings-file <json>`): Paimon's
`sys.*` procedures in Java's order (compaction, manifest compaction, partition
expiration, snapshot expiry, orphan removal), each reading the table's own options.

The settings file (written 0600 by `analytics_lib/flink_cluster/paimon_maintenance.py`, so
catalog passwords never appear in a process list) names the catalog options, the table,
the steps and the run's arguments. Each step prints one `PAIMON_MAINTENANCE {json}` line:
the submitter parses them. Compaction submits its own Flink batch job from here (the
procedure's environment is this client's); the other procedures run in this client.
"""

import argparse
import json
import re
import time

from pyflink.common import Configuration
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment
from pyflink.table.catalog import CatalogDescriptor

MARKER = "PAIMON_MAINTENANCE "


# What each procedure argument may contain. Flink's CALL takes named arguments but no
# bound parameters (TableEnvironment.execute_sql has no placeholders, and procedure
# arguments must be literals), so the values are quoted into the statement. That is safe
# because none comes from a user: the table is our `db.name` identifier, the durations,
# formatters and patterns are the table's own Paimon options, the timestamps and the
# `where` filter (`dt < 'YYYY-MM-DD'`) are formatted by the submitter. Each is checked
# against its shape below and quoted with doubled single quotes, so even a value that
# slipped through could not end the literal.
SHAPES = {
    "table": re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_$]+$"),
    "compact_strategy": re.compile(r"^(minor|full)$"),
    "where": re.compile(r"^[A-Za-z0-9_]+ < '\d{4}-\d{2}-\d{2}'$"),
    "timestamp": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
    "option": re.compile(r"^[A-Za-z0-9 _:$.\-/]+$"),
}


def quoted(value: str, shape: str = "option") -> str:
    """A SQL string literal for a value of a known shape (see SHAPES); anything else is
    refused with the value named, before any statement runs."""
    if not SHAPES[shape].match(value):
        raise ValueError(f"refusing {shape} argument {value!r}: not of the expected shape")
    return "'" + value.replace("'", "''") + "'"


def table_options(env: TableEnvironment, database: str, name: str) -> dict[str, str]:
    gateway = get_gateway()
    path = gateway.jvm.org.apache.flink.table.catalog.ObjectPath(database, name)
    catalog = env._j_tenv.getCatalog("paimon").get()
    return dict(catalog.getTable(path).getOptions())


def calls(settings: dict, options: dict[str, str]) -> list[tuple[str, str]]:
    """(step, CALL statement) in Java's order, with each step's arguments."""
    table = quoted(settings["table"], "table")
    statements: list[tuple[str, str]] = []
    for step in settings["steps"]:
        if step == "compact":
            arguments = [f"`table` => {table}"]
            arguments.append(
                f"compact_strategy => {quoted(settings['compact_strategy'], 'compact_strategy')}"
            )
            if settings.get("full_compact_where"):
                arguments.append(f"`where` => {quoted(settings['full_compact_where'], 'where')}")
            statements.append(("compact", f"CALL paimon.sys.compact({', '.join(arguments)})"))
        elif step == "merge_manifests":
            statements.append(
                ("merge_manifests", f"CALL paimon.sys.compact_manifest(`table` => {table})")
            )
        elif step == "expire_partitions":
            expiration = options.get("partition.expiration-time")
            if not expiration:
                continue  # Java expires partitions only for tables that set a lifetime
            arguments = [f"`table` => {table}", f"expiration_time => {quoted(expiration)}"]
            for option, argument in (
                ("partition.timestamp-formatter", "timestamp_formatter"),
                ("partition.timestamp-pattern", "timestamp_pattern"),
            ):
                if options.get(option):
                    arguments.append(f"{argument} => {quoted(options[option])}")
            statements.append(
                ("expire_partitions", f"CALL paimon.sys.expire_partitions({', '.join(arguments)})")
            )
        elif step == "expire_snapshots":
            arguments = [f"`table` => {table}"]
            if settings.get("expire_older_than"):
                arguments.append(
                    f"older_than => {quoted(settings['expire_older_than'], 'timestamp')}"
                )
            statements.append(
                ("expire_snapshots", f"CALL paimon.sys.expire_snapshots({', '.join(arguments)})")
            )
        elif step == "clean_orphans":
            statements.append(
                (
                    "clean_orphans",
                    f"CALL paimon.sys.remove_orphan_files(`table` => {table}, "
                    f"older_than => {quoted(settings['orphan_older_than'], 'timestamp')}, "
                    f"dry_run => {'true' if settings.get('orphan_dry_run') else 'false'})",
                )
            )
        else:
            raise ValueError(f"unknown maintenance step {step!r}")
    return statements


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settings-file", required=True)
    arguments, _ = parser.parse_known_args()
    with open(arguments.settings_file) as handle:
        settings = json.load(handle)
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    config = env.get_config()
    config.set("pipeline.jars", ";".join(f"file://{jar}" for jar in settings["jars"]))
    config.set("table.dml-sync", "true")
    config.set("pipeline.name", f"paimon maintenance {settings['table']}")
    # The catalog through the Table API, not a CREATE CATALOG statement: its options
    # (S3 keys, the JDBC password) never become SQL text. No catalog cache: each step must
    # plan on the snapshot the previous step committed (cached, a minor compaction after a
    # full one re-planned the replaced files and failed with "File deletion conflicts
    # detected").
    catalog = Configuration()
    for key, value in {"type": "paimon", "cache-enabled": "false", **settings["catalog"]}.items():
        catalog.set_string(key, value)
    env.create_catalog("paimon", CatalogDescriptor.of("paimon", catalog))
    database, name = settings["table"].split(".", 1)
    options = table_options(env, database, name)
    for step, statement in calls(settings, options):
        started = time.monotonic()
        rows = [[str(field) for field in row] for row in env.execute_sql(statement).collect()]
        seconds = round(time.monotonic() - started, 3)
        print(
            MARKER + json.dumps({"step": step, "seconds": seconds, "result": rows[:50]}), flush=True
        )


if __name__ == "__main__":
    main()
