"""The Sensors decoder and record rules: pure functions, no server."""

import base64
import gzip
import re
import time
import urllib.parse

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_collector import sensors_protocol, sensors_records
from analytics_collector.behavior_mapping import BehaviorMapping
from analytics_collector.sensors_protocol import (
    DecodeLimits,
    ProtocolError,
    decode_records,
    encode_records,
    java_string_hash,
    parse_request,
)
from analytics_lib.raw_log import sa_events

LIMITS = DecodeLimits(max_body_bytes=1024 * 1024, max_decoded_bytes=4 * 1024 * 1024)
NOW_MS = int(time.time() * 1000)


def reference_java_hash(text: str) -> int:
    value = 0
    for unit in text.encode("utf-16-le")[::2]:  # ASCII and BMP-only test strings
        value = (31 * value + unit) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def test_java_string_hash_matches_java() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    long_text = base64.b64encode(bytes(range(256)) * 40).decode()
    assert java_string_hash(long_text) == reference_java_hash(long_text)


def request(query: str = "", body: bytes = b"") -> sensors_protocol.SensorsRequest:
    return parse_request(query, body)


def test_data_list_gzip_from_a_form_body() -> None:
    records = [{"type": "track", "event": "E", "distinct_id": "u", "time": NOW_MS}] * 3
    body = urllib.parse.urlencode({"data_list": encode_records(records), "gzip": "1"})
    assert decode_records(request("project=p", body.encode()), LIMITS) == records


def test_single_record_from_the_query_with_crc_and_unencoded_plus() -> None:
    # a distinct_id whose base64 has a '+', the case a client that forgets to URL-encode breaks
    record, data = next(
        (r, d)
        for i in range(3)
        for r in [{"type": "track", "event": "E", "distinct_id": "x" * i + "~~~~", "time": NOW_MS}]
        for d in [encode_records([r], gzip=False)]
        if "+" in d
    )
    query = f"data={data.replace('+', ' ')}&ext=crc%3D{java_string_hash(data)}"
    assert decode_records(request(query), LIMITS) == [record]


def test_mobile_crc_parameter_and_unannounced_gzip() -> None:
    records = [{"type": "track", "event": "E", "distinct_id": "u", "time": NOW_MS}]
    data = encode_records(records)  # gzipped, but no gzip= parameter
    body = urllib.parse.urlencode({"crc": java_string_hash(data), "data_list": data})
    assert decode_records(request(body=body.encode()), LIMITS) == records


def test_crc_mismatch_is_refused() -> None:
    data = encode_records([{"type": "track"}], gzip=False)
    with pytest.raises(ProtocolError, match="crc mismatch"):
        decode_records(request(f"data={data}&ext=crc%3D{java_string_hash(data) + 1}"), LIMITS)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"data": "!!!"}, 400, "not base64"),
        ({"data_list": encode_records([{}])[:-8], "gzip": "1"}, 400, "gzip"),
        ({"data": base64.b64encode(b"\xff\xfe{").decode()}, 400, "not UTF-8 JSON"),
        ({"data_list": base64.b64encode(b'{"a": 1}').decode()}, 400, "JSON array"),
        ({"data": base64.b64encode(b"[" * 5000 + b"]" * 5000).decode()}, 400, "JSON"),
        ({"data": encode_records([{}]), "gzip": "9"}, 400, "encrypted"),
        ({"data": encode_records([{}]), "gzip": "2"}, 400, "encrypted"),
        ({"data": encode_records([{}]), "gzip": "5"}, 400, "not a known encoding"),
        (
            {"data_list": base64.b64encode(gzip.compress(b" " * 5_000_000)).decode(), "gzip": "1"},
            413,
            "inflates beyond",
        ),
    ],
)
def test_bad_payloads_get_a_clear_4xx(params: dict[str, str], status: int, message: str) -> None:
    body = urllib.parse.urlencode(params).encode()
    with pytest.raises(ProtocolError, match=message) as raised:
        decode_records(request(body=body), LIMITS)
    assert raised.value.status == status


def test_a_request_without_data_is_refused() -> None:
    with pytest.raises(ProtocolError, match="no data or data_list"):
        request("project=p", b"")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["data", "data_list", "gzip", "ext", "project"]),
        st.one_of(
            st.text(max_size=200), st.binary(max_size=200).map(base64.b64encode).map(bytes.decode)
        ),
    ),
    st.binary(max_size=300),
)
def test_the_decoder_only_ever_answers_records_or_a_protocol_error(
    params: dict[str, str], body: bytes
) -> None:
    try:
        parsed = parse_request(urllib.parse.urlencode(params), body)
        records = decode_records(parsed, LIMITS)
    except ProtocolError as error:
        assert error.status in (400, 413)
        return
    assert isinstance(records, list)
    columns, rejected = sensors_records.split_records(records, "p", NOW_MS)
    assert len(columns.type) + len(rejected) == len(records)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_gzip_garbage_is_a_protocol_error(garbage: bytes) -> None:
    parsed = request(
        body=urllib.parse.urlencode({"data_list": base64.b64encode(garbage), "gzip": "1"}).encode()
    )
    try:
        decode_records(parsed, LIMITS)
    except ProtocolError as error:
        assert error.status in (400, 413)


def record(**fields: object) -> dict[str, object]:
    return {"type": "track", "event": "ViewItem", "distinct_id": "u1", "time": NOW_MS, **fields}


@pytest.mark.parametrize("kind", sa_events.RECORD_TYPES)
def test_every_record_type_is_identified(kind: str) -> None:
    extra = {"original_id": "anon"} if kind == "track_signup" else {}
    if kind.startswith("item_"):
        extra = {"item_id": "i1", "item_type": "book"}
    columns, rejected = sensors_records.split_records([record(type=kind, **extra)], "p", NOW_MS)
    assert not rejected
    assert columns.type == [kind]
    assert columns.invalid_reason == [None]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (record(properties={"user_id": 1}), "reserved"),
        (record(properties={"USER_TAG_x": 1}), "reserved"),
        (record(properties={"9lives": 1}), "does not match"),
        (record(properties={"a": "x" * 8192}), "longer than 8191"),
        (record(properties={"a": {"nested": 1}}), "objects are not allowed"),
        (record(properties={"a": [1, 2]}), "list of something other than strings"),
        (record(event="has space"), "does not match"),
        (record(event="a" * 101), "does not match"),
        (record(type="track_signup"), "original_id"),
        (record(type="item_set"), "item_id and item_type"),
    ],
)
def test_rule_breaking_records_are_kept_invalid_with_a_reason(bad: dict, reason: str) -> None:
    columns, rejected = sensors_records.split_records([bad], "p", NOW_MS)
    assert not rejected
    assert reason in (columns.invalid_reason[0] or "")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ([1, 2], "not a JSON object"),
        (record(type="track_everything"), "unknown record type"),
        (record(type=[]), "unknown record type"),  # unhashable: was a TypeError, a 500
        (record(type={"a": 1}), "unknown record type"),
        (record(distinct_id=""), "distinct_id"),
        (record(distinct_id="x" * 256), "distinct_id"),
        (record(time=NOW_MS // 1000), "seconds"),
        (record(time="yesterday"), "not a number"),
        (record(time=NOW_MS + 3 * 86_400_000), "future"),
        (record(time=NOW_MS + 25 * 3_600_000), "24 h ahead"),
        (record(time=99_999_999_999_999), "future"),
        (record(time=NOW_MS - 91 * 86_400_000), "90-day raw retention"),
        (record(properties=[1]), "properties is not an object"),
    ],
)
def test_unidentifiable_records_are_rejected_with_a_reason(bad: object, reason: str) -> None:
    columns, rejected = sensors_records.split_records([bad], "p", NOW_MS)
    assert columns.type == []
    assert reason in rejected[0].reason
    assert rejected[0].payload == orjson.dumps(bad)


FORM_PIECES = st.one_of(
    st.sampled_from(["%2B", "%2F", "%3D", "%2b", "%3d", "%25", "%", "%4", "%zz", "%C3%A9", "%FF"]),
    st.sampled_from(["&", "=", "+", " ", "data_list", "gzip", "é"]),
    st.text(st.characters(codec="ascii"), max_size=8),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(FORM_PIECES, max_size=30).map("".join))
def test_form_parsing_matches_parse_qsl(text: str) -> None:
    """The body parser's fast path for base64 escapes answers what the standard library
    answers, for any text (invalid and partial escapes included)."""
    assert sensors_protocol.parse_form(text) == urllib.parse.parse_qsl(text, keep_blank_values=True)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1, max_size=3000))
def test_form_parsing_of_url_encoded_base64_matches_parse_qsl(payload: bytes) -> None:
    text = urllib.parse.urlencode({"data_list": base64.b64encode(payload), "gzip": "1"})
    assert sensors_protocol.parse_form(text) == urllib.parse.parse_qsl(text, keep_blank_values=True)


def reference_properties_problem(properties: dict) -> str | None:
    """The rule check as it was before names were cached per name set: every name, then
    its value, in property order."""
    for name, value in properties.items():
        problem = sensors_records.name_problem(name)
        if problem:
            return problem
        if isinstance(value, str):
            if len(value) > 8191:
                return f"property {name} is longer than 8191 characters"
        elif isinstance(value, list):
            if not all(isinstance(v, str) and len(v) <= 8191 for v in value):
                return f"property {name} is a list of something other than strings ≤ 8191"
        elif not isinstance(value, int | float | bool | type(None)):
            return f"property {name} has a {type(value).__name__} value (objects are not allowed)"
    return None


PROPERTY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "x" * 8191, "x" * 8192]),
    st.lists(st.sampled_from(["a", "x" * 8192, 1, None]), max_size=3),
    st.dictionaries(st.just("k"), st.integers(), max_size=1),
)
PROPERTY_NAMES = st.sampled_from(["a", "b", "$ip", "user_id", "9lives", "has space", "USER_TAGx"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(PROPERTY_NAMES, PROPERTY_VALUES, max_size=5), max_size=6))
def test_property_rules_cached_per_name_set_answer_as_checked_per_name(
    batches: list[dict],
) -> None:
    """The same name sets come back with other values (the cache is per name set, the
    values are checked every time): each answer is the reference's first problem."""
    for properties in batches + batches:
        assert sensors_records.properties_problem(properties) == reference_properties_problem(
            properties
        )


def test_a_known_good_name_set_still_has_its_values_checked() -> None:
    names_ok = {"a": "x", "b": 1}
    assert sensors_records.properties_problem(names_ok) is None
    assert "longer than 8191" in (
        sensors_records.properties_problem({"a": "x" * 8192, "b": 1}) or ""
    )
    assert "objects are not allowed" in (
        sensors_records.properties_problem({"a": "x", "b": {"c": 1}}) or ""
    )
    assert "list of something other than strings" in (
        sensors_records.properties_problem({"a": ["x" * 8192], "b": 1}) or ""
    )


WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["\x1b", "\u200b", "\ufeff"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(WHITESPACE), st.text(max_size=4)), max_size=12))
def test_whitespace_scan_finds_what_the_regex_finds(pieces: list[str]) -> None:
    """Every Unicode whitespace character (and look-alikes that are not), anywhere in the
    text, leading and trailing included."""
    text = "".join(pieces)
    expected = sensors_protocol._BASE64_JUNK.search(text) is not None
    assert sensors_protocol.has_whitespace(text) is expected


def reference_split_records(
    records: list, default_project: str, received_ms: int, pick=None, user_agent=None, ip=None
) -> tuple[dict, list]:
    """The record pass as it was before rows became tuples (one list append per column
    and record, `_time_ms` for every time): the oracle for `split_records`."""
    columns: dict[str, list] = {name: [] for name in sensors_records._LIST_FIELDS}
    picked = {} if pick is None else {name: [] for name in pick.names}
    rejected = []
    for record in records:
        if not isinstance(record, dict):
            rejected.append(("record is not a JSON object", orjson.dumps(record), None))
            continue
        project = record.get("project") or default_project
        kind = record.get("type")
        if kind not in sensors_records.RECORD_TYPES:
            rejected.append(
                (f"unknown record type {str(kind)[:60]!r}", orjson.dumps(record), project)
            )
            continue
        distinct_id = sensors_records._identifier(record.get("distinct_id"))
        if distinct_id is None and kind not in sensors_records.ITEM_TYPES:
            reason = "distinct_id missing, empty, not a string or longer than 255"
            rejected.append((reason, orjson.dumps(record), project))
            continue
        millis = sensors_records._time_ms(record.get("time"), received_ms)
        if isinstance(millis, str):
            rejected.append((millis, orjson.dumps(record), project))
            continue
        properties = record.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            rejected.append(("properties is not an object", orjson.dumps(record), project))
            continue
        event = record.get("event")
        problem = None
        if kind in sensors_records.NAMED_TYPES:
            problem = (
                sensors_records.name_problem(event)
                if isinstance(event, str)
                else f"{kind} without an event name"
            )
        if (
            kind == "track_signup"
            and sensors_records._identifier(record.get("original_id")) is None
        ):
            problem = problem or "track_signup without a valid original_id"
        if kind in sensors_records.ITEM_TYPES and not (
            record.get("item_id") and record.get("item_type")
        ):
            problem = problem or f"{kind} without item_id and item_type"
        problem = problem or reference_properties_problem(properties)
        track_id, agent = record.get("_track_id"), properties.get("$user_agent")
        identities, lib, address = (
            record.get("identities"),
            record.get("lib"),
            properties.get("$ip"),
        )
        row = {
            "type": kind,
            "event": event if isinstance(event, str) else None,
            "time": millis,
            "distinct_id": distinct_id,
            "track_id": track_id
            if isinstance(track_id, int) and not isinstance(track_id, bool)
            else None,
            "identities": orjson.dumps(identities) if isinstance(identities, dict) else None,
            "project": str(project),
            "lib": orjson.dumps(lib) if isinstance(lib, dict) else None,
            "properties": orjson.dumps(properties),
            "invalid_reason": problem,
            "user_agent": agent if isinstance(agent, str) else user_agent,
            "ip": address if isinstance(address, str) else ip,
            "received_at": received_ms,
        }
        for name in ("original_id", "login_id", "anonymous_id", "item_type", "item_id"):
            value = record.get(name)
            row[name] = None if value is None else sensors_records._identifier(value)
        for name, values in columns.items():
            values.append(row[name])
        wanted = pick is not None and event in pick.events
        for name, values in picked.items():
            value = properties.get(name) if wanted else None
            values.append(
                value if value is None or isinstance(value, str) else orjson.dumps(value).decode()
            )
    return {**columns, "picked": picked}, rejected


IDENTIFIERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**300),
    st.floats(allow_nan=False),
    st.sampled_from(["", "u1", "用户3", "x" * 255, "x" * 256]),
    st.lists(st.just("a"), max_size=1),
)
DAY_MS = 86_400_000
TIMES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(
        [
            NOW_MS,
            NOW_MS + DAY_MS,  # the last accepted millisecond
            NOW_MS + DAY_MS + 1,
            (NOW_MS // DAY_MS - 89) * DAY_MS,  # the first accepted millisecond
            (NOW_MS // DAY_MS - 89) * DAY_MS - 1,
            10**12,
            10**12 - 1,
            NOW_MS // 1000,
            99_999_999_999_999,
            float(NOW_MS),
            NOW_MS + 0.7,
            float("inf"),
            "yesterday",
        ]
    ),
    st.integers(NOW_MS - 100 * DAY_MS, NOW_MS + 2 * DAY_MS),
)
RECORDS = st.one_of(
    st.fixed_dictionaries(
        {  # mostly identifiable, so that the time window and the columns are reached
            "type": st.sampled_from([*sa_events.RECORD_TYPES, *["track"] * 12, "nope", 1]),
            "distinct_id": st.one_of(st.sampled_from(["u1", "用户3"]), IDENTIFIERS),
            "time": TIMES,
        },
        optional={
            "event": st.sampled_from(["RecClick", "RecImpression", "ViewItem", "9x", None, 3]),
            "_track_id": st.one_of(st.none(), st.booleans(), st.integers(), st.just("7")),
            "project": st.sampled_from(["", "p2", None, 5]),
            "original_id": IDENTIFIERS,
            "login_id": IDENTIFIERS,
            "anonymous_id": IDENTIFIERS,
            "item_type": IDENTIFIERS,
            "item_id": IDENTIFIERS,
            "identities": st.one_of(st.none(), st.just({"$identity_login_id": "l"}), st.just([1])),
            "lib": st.one_of(st.none(), st.just({"$lib": "python"}), st.just("js")),
            "properties": st.one_of(
                st.none(),
                st.just([1]),
                st.dictionaries(
                    st.one_of(
                        PROPERTY_NAMES,
                        st.sampled_from(
                            ["$user_agent", "scenario_id", "item_id", "watch_duration"]
                        ),
                    ),
                    st.one_of(PROPERTY_VALUES, st.sampled_from(["Mozilla/5.0", "1.2.3.4"])),
                    max_size=6,
                ),
            ),
        },
    ),
    st.sampled_from([1, "text", None, [1]]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(RECORDS, max_size=8), st.booleans())
def test_record_pass_answers_as_the_reference(records: list, with_pick: bool) -> None:
    """Identified records, their columns (picked properties included), rejected records
    and their reasons: as the per-column-append pass with `_time_ms` for every time
    answered, around every time boundary."""
    pick = BehaviorMapping.load().pick if with_pick else None
    try:
        expected, expected_rejected = reference_split_records(
            records, "p", NOW_MS, pick, "UA", "9.9.9.9"
        )
    except (TypeError, OverflowError) as error:  # no JSON decoder gives 2**64 or inf
        with pytest.raises(type(error), match=re.escape(str(error))):
            sensors_records.split_records(records, "p", NOW_MS, pick, "UA", "9.9.9.9")
        return
    columns, rejected = sensors_records.split_records(records, "p", NOW_MS, pick, "UA", "9.9.9.9")
    got = {name: getattr(columns, name) for name in sensors_records._LIST_FIELDS}
    assert {**got, "picked": columns.picked} == expected
    for name in sensors_records._LIST_FIELDS:
        assert all(type(a) is type(b) for a, b in zip(got[name], expected[name], strict=True))
    assert [(r.reason, r.payload, r.project) for r in rejected] == expected_rejected


def test_an_event_name_of_the_wrong_type_is_kept_invalid_when_properties_are_picked() -> None:
    """`"event": []` once raised a TypeError in the pick step: a 500, which SDKs retry for
    ever."""
    pick = sensors_records.PropertyPick(frozenset({"ViewItem"}), ("item_id",))
    columns, rejected = sensors_records.split_records(
        [record(event=[]), record(event={"x": 1}), record(properties={"item_id": "i1"})],
        "p",
        NOW_MS,
        pick,
    )
    assert not rejected
    assert [reason is not None for reason in columns.invalid_reason] == [True, True, False]
