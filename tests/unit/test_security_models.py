"""The scanner's bodies: both documented shapes, severities, bounds, stable ids."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.security import (
    ScanDurationReport,
    ScanStatusReport,
    SecurityFindingReport,
    finding_id,
    parse_body,
    valid_identifier,
)

BASE = {"resource_type": "Pod", "resource_name": "web-1", "namespace": "shop",
        "severity": "high"}


def report(**fields: object) -> SecurityFindingReport:
    """Parse a finding body built from BASE."""
    return parse_body(SecurityFindingReport, {**BASE, **fields}, "security finding")


def test_seed_fields_fill_kures_fields():
    parsed = report(check_name="privileged_container", message="runs privileged")
    assert (parsed.title, parsed.description) == ("privileged_container", "runs privileged")
    assert parsed.category == "Security"


def test_kure_fields_fill_seed_fields():
    parsed = report(title="Privileged container: app", description="runs privileged",
                    category="Best Practice", timestamp="2026-01-01T00:00:00Z")
    assert (parsed.check_name, parsed.message) == ("Privileged container: app",
                                                   "runs privileged")
    assert parsed.category == "Best Practice"


def test_a_finding_needs_a_check_name_or_a_title():
    with pytest.raises(ValidationFailed, match="check_name"):
        report(message="what failed?")


@pytest.mark.parametrize("severity", ["critical", "HIGH", " Medium ", "low", "info"])
def test_kure_severities_are_accepted_in_any_case(severity):
    assert report(check_name="c", severity=severity).severity == severity.strip().lower()


@pytest.mark.parametrize("severity", ["warning", "urgent", "", 3, None])
def test_other_severities_are_refused(severity):
    with pytest.raises(ValidationFailed, match="severity"):
        report(check_name="c", severity=severity)


@pytest.mark.parametrize(("field", "value"), [
    ("resource_type", "P" * 64), ("resource_name", "n" * 254), ("namespace", ""),
    ("resource_name", "has space"), ("namespace", "a/b"), ("resource_name", "a#b"),
    ("resource_name", "caf\u00e9"), ("check_name", "c" * 513), ("remediation", "r" * 8_193),
    ("manifest", "m" * 64_001), ("details", {"k": "v" * 17_000}),
])
def test_oversized_or_unsafe_fields_are_refused(field, value):
    with pytest.raises(ValidationFailed, match=field):
        report(**{"check_name": "c", field: value})


def test_unknown_fields_are_ignored_so_newer_scanners_still_work():
    assert report(check_name="c", cluster_uid="abc").check_name == "c"


def test_the_id_is_stable_and_depends_on_every_part_of_the_key():
    key = ("default", "Pod", "shop", "web-1", "privileged")
    first = finding_id(*key)
    assert first == finding_id(*key)
    assert first.startswith("finding-")
    assert len(first) == len("finding-") + 24
    for i in range(len(key)):
        changed = list(key)
        changed[i] += "x"
        assert finding_id(*changed) != first


def test_id_parts_cannot_run_together():
    assert finding_id("ws", "Pod", "ab", "c", "x") != finding_id("ws", "Pod", "a", "bc", "x")


@pytest.mark.parametrize("status", ["started", "completed", "STARTED"])
def test_rescan_status_started_or_completed(status):
    parsed = parse_body(ScanStatusReport, {"status": status, "reason": None}, "rescan status")
    assert (parsed.status, parsed.reason) == (status.lower(), None)


@pytest.mark.parametrize("body", [{"status": "running"}, {}, {"status": "started",
                                                              "reason": "r" * 257}])
def test_bad_rescan_statuses_are_refused(body):
    with pytest.raises(ValidationFailed):
        parse_body(ScanStatusReport, body, "rescan status")


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (12.5, 12.5), ("42", 42.0)])
def test_scan_durations_are_seconds(value, expected):
    parsed = parse_body(ScanDurationReport, {"duration_seconds": value}, "scan duration")
    assert parsed.duration_seconds == expected


@pytest.mark.parametrize("value", [-0.1, 7 * 24 * 3600 + 1, float("nan"), float("inf"),
                                   True, None, "soon"])
def test_impossible_durations_are_refused(value):
    with pytest.raises(ValidationFailed, match="duration_seconds"):
        parse_body(ScanDurationReport, {"duration_seconds": value}, "scan duration")


def test_path_identifiers_are_checked_like_body_fields():
    assert valid_identifier("system:controller", "resource name") == "system:controller"
    for bad in ("", "a%23b", "x" * 254):
        with pytest.raises(ValidationFailed, match="resource name"):
            valid_identifier(bad, "resource name")
