"""Enrichment (UA, GeoIP, whitelist, keys) against the per-field version it replaced: one
dictionary encoding per looked-up column instead of `unique` plus an `index_in` per
field must give the same table, column for column, nulls and empty texts included."""

from collections.abc import Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_collector.enrichment import UA_FIELDS, Enricher, GeoIp, user_agent_fields
from analytics_collector.sensors_records import RecordColumns, columns_to_table
from tests.support.geoip import write_city_database

AGENTS = [
    None,
    "",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "curl/8.0",
    "not a browser",
]
IPS = [None, "", "1.2.3.4", "8.8.8.8", "2001:db8::7", "::ffff:8.8.8.8", "10.0.0.1", "nope"]


class FakeWhitelist:
    """The whitelist's interface over a dict; `failed` answers as a Redis outage does
    (only what was cached is known)."""

    def __init__(self, known: Mapping[str, str | None], failed: bool) -> None:
        self.known, self.failed, self.asked = known, failed, []

    def lookup(self, distinct_ids: list[str]) -> tuple[dict[str, str | None], bool]:
        self.asked.append(list(distinct_ids))
        known = {"u1": self.known.get("u1")} if self.failed and "u1" in distinct_ids else {}
        if self.failed:
            return known, True
        return {d: self.known[d] for d in distinct_ids if d in self.known}, False


def reference_per_row(
    keys: pa.ChunkedArray, value_by_key: Mapping[str, str | None]
) -> pa.ChunkedArray:
    """The broadcast as it was: an `index_in` of the column per looked-up field."""
    positions = pc.index_in(keys, value_set=pa.array(list(value_by_key), pa.string()))
    return pc.take(pa.array(list(value_by_key.values()), pa.string()), positions)


def reference_enrich(enricher: Enricher, records: pa.Table) -> pa.Table:
    """`Enricher.enrich` as it was: `unique`, then one `index_in` per looked-up field."""
    n = records.num_rows
    user_agents = pc.fill_null(records["user_agent"], "")
    ips = pc.fill_null(records["ip"], "")
    columns = {}
    parsed = {ua: user_agent_fields(ua) for ua in pc.unique(user_agents).to_pylist() if ua}
    for position, name in enumerate(UA_FIELDS):
        columns[name] = reference_per_row(
            user_agents, {ua: fields[position] for ua, fields in parsed.items()}
        )
    if enricher.geoip is not None:
        geo = {ip: enricher.geoip.lookup(ip) for ip in pc.unique(ips).to_pylist() if ip}
        columns["geoip"] = reference_per_row(ips, geo)
    else:
        columns["geoip"] = pa.nulls(n, pa.string())
    is_debug = pc.fill_null(
        pc.match_substring_regex(records["event"], enricher.debug_event_pattern), False
    )
    columns["event_group"] = pc.if_else(is_debug, "DEBUG", "CORE")
    reasons = records["invalid_reason"]
    if enricher.whitelist is not None:
        ids = records["distinct_id"]
        found, failed = enricher.whitelist.lookup(pc.unique(ids.drop_null()).to_pylist())
        meta = reference_per_row(ids, found)
        needs_entry = pc.and_(pc.and_(pc.invert(is_debug), pc.is_valid(ids)), pc.is_null(meta))
        why = "whitelist lookup failed (Redis unavailable)" if failed else "not in the whitelist"
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), needs_entry), why, reasons)
        columns["redis_meta"] = meta
    else:
        columns["redis_meta"] = pa.nulls(n, pa.string())
    columns["invalid_reason"] = reasons
    columns["is_valid"] = pc.is_null(reasons)
    columns["remote_addr"] = pc.if_else(pc.equal(ips, ""), None, ips)
    item_key = pc.binary_join_element_wise(records["item_type"], records["item_id"], ":")
    kind_and_event = pc.binary_join_element_wise(
        records["type"], pc.fill_null(records["event"], ""), ":"
    )
    columns["dedup_key"] = pc.binary_join_element_wise(
        pc.coalesce(pc.cast(records["track_id"], pa.string()), kind_and_event),
        pc.coalesce(records["distinct_id"], item_key, ""),
        pc.cast(pc.cast(records["time"], pa.int64()), pa.string()),
        "|",
    )
    enriched = records.drop_columns(["user_agent", "ip", "invalid_reason"])
    for name, column in columns.items():
        enriched = enriched.append_column(name, column)
    return enriched


@pytest.fixture(scope="module")
def geoip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoIp]:
    reader = GeoIp(str(write_city_database(tmp_path_factory.mktemp("geo") / "city.mmdb")))
    yield reader
    reader.close()


record = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "profile_set", "item_set"]),
        "event": st.sampled_from([None, "RecClick", "$pageview", "debug_x", "ViewItem"]),
        "distinct_id": st.sampled_from([None, "u1", "u2", "u3", "用户4"]),
        "track_id": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "item_type": st.sampled_from([None, "book"]),
        "item_id": st.sampled_from([None, "i1"]),
        "invalid_reason": st.sampled_from([None, None, "name is reserved"]),
        "user_agent": st.sampled_from(AGENTS),
        "ip": st.sampled_from(IPS),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(record, max_size=30),
    st.sampled_from(["none", "whitelist", "outage"]),
    st.booleans(),
)
def test_enrichment_matches_the_per_field_version(
    geoip: GeoIp, rows: list[dict], whitelist: str, with_geoip: bool
) -> None:
    columns = RecordColumns()
    for r in rows:
        for name in ("type", "event", "distinct_id", "track_id", "item_type", "item_id"):
            getattr(columns, name).append(r[name])
        for name in ("invalid_reason", "user_agent", "ip"):
            getattr(columns, name).append(r[name])
        columns.time.append(1_764_000_000_000)
        columns.received_at.append(1_764_000_000_000)
        columns.project.append("p")
        columns.properties.append(b"{}")
        for name in ("original_id", "login_id", "anonymous_id", "identities", "lib"):
            getattr(columns, name).append(None)
    table = columns_to_table(columns)
    known = {"u1": "{}", "u2": None, "用户4": '{"vip":1}'}

    def enricher() -> Enricher:
        fake = None if whitelist == "none" else FakeWhitelist(known, whitelist == "outage")
        return Enricher(geoip=geoip if with_geoip else None, whitelist=fake)  # type: ignore[arg-type]

    ours, theirs = enricher(), enricher()
    got, expected = ours.enrich(table), reference_enrich(theirs, table)
    assert got.schema == expected.schema
    assert got.to_pydict() == expected.to_pydict()
    if whitelist != "none":
        assert ours.whitelist.asked == theirs.whitelist.asked  # type: ignore[union-attr]


def test_enrichment_of_no_records() -> None:
    table = columns_to_table(RecordColumns())
    assert Enricher().enrich(table).equals(reference_enrich(Enricher(), table))
