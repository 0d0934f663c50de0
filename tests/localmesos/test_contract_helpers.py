"""The contract tests' own comparator and normaliser: they must see every difference they are meant to see."""

from __future__ import annotations

import pytest

from tests.localmesos import transcripts as T

MID = "fd662dbe-57a5-4706-be0a-fbbeda05c176"
OTHER = "0a1b2c3d-0000-4000-8000-0123456789ab"


def diff(expected: object, actual: object, ignore: tuple[str, ...] = (), ordered: bool = False) -> str | None:
    return T.first_difference(expected, actual, ignore, ordered=ordered)


def test_reports_the_path_of_the_first_difference() -> None:
    expected = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert diff(expected, {"a": {"b": [{"c": 1}, {"c": 3}]}}) == "$.a.b[1].c: expected 2, got 3"
    assert "missing ['c']" in (diff(expected, {"a": {"b": [{"c": 1}, {}]}}) or "")
    assert "unexpected ['d']" in (diff(expected, {"a": {"b": [{"c": 1}, {"c": 2, "d": 0}]}}) or "")
    assert "expected 2 items, got 1" in (diff(expected, {"a": {"b": [{"c": 1}]}}) or "")


def test_json_types_are_strict() -> None:
    assert diff({"v": 2.0}, {"v": 2}) == "$.v: expected float 2.0, got int 2"
    assert diff({"v": True}, {"v": 1}) is not None
    assert diff({"v": None}, {"v": ""}) is not None
    assert diff({"v": "1"}, {"v": 1}) is not None


def test_ignored_paths_still_compare_presence_and_type() -> None:
    assert diff({"t": 1.5, "x": {"timestamp": 2.0}}, {"t": 1.5, "x": {"timestamp": 9.0}}, ("timestamp",)) is None
    assert diff({"x": {"timestamp": 2.0}}, {"x": {"timestamp": "9"}}, ("timestamp",)) is not None
    assert diff({"x": {"timestamp": 2.0}}, {"x": {}}, ("timestamp",)) is not None
    assert diff({"timestampx": 1}, {"timestampx": 2}, ("timestamp",)) is not None


def test_trimmed_lists_stand_for_more_items() -> None:
    recorded = ["A", "B", {"_trimmed": "2 more items of same shape"}]
    assert diff(recorded, ["A", "B", "C", "D"]) is None
    assert diff(recorded, ["A", "B", "C"]) is not None
    assert diff(recorded, ["A", "X", "C", "D"]) is not None


def test_key_order_when_asked() -> None:
    assert diff({"a": 1, "b": 2}, {"b": 2, "a": 1}) is None
    assert "key order" in (diff({"a": 1, "b": 2}, {"b": 2, "a": 1}, ordered=True) or "")


def test_normalizer_keeps_the_pattern_of_ids() -> None:
    n = T.Normalizer()
    doc = {"fw": f"{MID}-0001", "agents": [f"{MID}-S0", f"{MID}-S1", f"{MID}-S0"], "offer": f"{MID}-O7",
           "uuid": "B7wD1FJERgGotMJIGbMahg==", "text": f"Offer {MID}-O7 is no longer valid", "master": MID}
    assert n(doc) == {"fw": "FW0", "agents": ["AG0", "AG1", "AG0"], "offer": "OF0", "uuid": "B64UUID0",
                      "text": "Offer OF0 is no longer valid", "master": "UUID0"}
    # The same structure with other ids normalises the same; a different pattern of ids does not.
    other = {**doc, "fw": f"{OTHER}-0000", "agents": [f"{OTHER}-S3", f"{OTHER}-S1", f"{OTHER}-S3"],
             "offer": f"{OTHER}-O0", "text": f"Offer {OTHER}-O0 is no longer valid", "master": OTHER}
    assert T.Normalizer()(other) == T.Normalizer()(doc)
    broken = {**other, "agents": [f"{OTHER}-S3", f"{OTHER}-S1", f"{OTHER}-S1"]}
    assert T.Normalizer()(broken) != T.Normalizer()(doc)
    assert T.Normalizer()("no-such-agent-S9") == "no-such-agent-S9"


def test_literals_replace_whole_host_names_only() -> None:
    n = T.Normalizer({"127.0.0.2": "<host>"})
    assert n("Agent 127.0.0.2 disconnected") == "Agent <host> disconnected"
    assert n("127.0.0.21") == "127.0.0.21"


def test_assert_exchange_checks_headers_and_body() -> None:
    recorded = T.load("22")["exchanges"]["err-no-framework-id"]
    good = T.Response(400, "Bad Request", [("Date", "Sun, 22 Nov 2026 10:59:26 GMT"),
                                           ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "74")],
                      b"Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
    T.assert_exchange(recorded, good)
    for bad in (T.Response(400, "Bad Request", list(reversed(good.headers)), good.body),
                T.Response(400, "Bad Request", good.headers, good.body + b"."),
                T.Response(400, "BAD REQUEST", good.headers, good.body),
                T.Response(400, "Bad Request", [h if h[0] != "Content-Type" else ("Content-Type", "text/plain")
                                                for h in good.headers], good.body)):
        with pytest.raises(AssertionError):
            T.assert_exchange(recorded, bad)
