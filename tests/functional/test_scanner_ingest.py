"""Seed 002's scanner ingest: a Kure Monitor scanner reports findings and scans to Drover."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import get_container

FINDINGS = "/api/security/findings"
CLEAR = "/api/security/scan/clear"
RESCAN = "/api/security/rescan-status"
DURATION = "/api/metrics/security-scan-duration"

# Seed 002's documented body.
SEED_FINDING = {
    "resource_type": "Pod", "resource_name": "my-app-7d9f8b6c4-abc12", "namespace": "default",
    "check_name": "privileged_container", "severity": "critical",
    "message": "Container 'app' is running in privileged mode",
    "remediation": "Remove 'privileged: true' from securityContext",
    "details": {"container": "app", "field": "securityContext.privileged"},
}
# What Kure's scanner (security-scanner/services/scanners/pod_scanner.py) actually posts.
KURE_FINDING = {
    "resource_type": "Pod", "resource_name": "web-5d8f", "namespace": "shop",
    "severity": "high", "category": "Security",
    "title": "Privilege escalation allowed: web",
    "description": "Container 'web' allows privilege escalation via setuid binaries.",
    "remediation": "Set 'allowPrivilegeEscalation: false' in the container's securityContext.",
    "timestamp": "2026-03-26T10:30:00Z",
}


def finding(**changes: object) -> dict:
    """The seed's finding with some fields changed."""
    return {**SEED_FINDING, **changes}


def scanner(api, method, path, body=None, key=None, **headers):
    """Call as Kure's scanner does: the key in X-Service-Token."""
    sent = {"X-Service-Token": key, **headers} if key else headers
    return api.call(method, path, key=None if key else "drv_functional-admin-key", body=body,
                    headers=sent)


def all_findings(workspace: str = "default") -> list:
    """Every stored finding of a workspace, through the store's paged list."""
    store, items, cursor = get_container().security_findings, [], None
    while True:
        page = store.list(workspace, limit=2, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items


def test_a_seed_finding_is_stored_and_returned_with_a_stable_id(api, make_key):
    key = make_key("ingest")
    status, body = scanner(api, "POST", FINDINGS, SEED_FINDING, key=key)
    assert status == 200
    assert body["id"].startswith("finding-")
    assert body["check_name"] == body["title"] == "privileged_container"
    assert body["message"] == body["description"] == SEED_FINDING["message"]
    assert body["details"] == SEED_FINDING["details"]
    assert (body["severity"], body["dismissed"], body["occurrences"]) == ("critical", False, 1)
    assert body["first_seen"] == body["last_seen"] == body["timestamp"]
    assert body["timestamp"].endswith("Z")
    assert get_container().security_findings.get("default", body["id"]).model_dump() == body


def test_kures_own_scanner_payload_is_accepted(api):
    status, body = scanner(api, "POST", FINDINGS, KURE_FINDING)
    assert status == 200
    assert body["check_name"] == KURE_FINDING["title"]
    assert body["message"] == KURE_FINDING["description"]
    assert body["category"] == "Security"
    assert body["timestamp"] == "2026-03-26T10:30:00.000Z"


def test_reporting_the_same_finding_twice_keeps_one_finding(api):
    _, first = scanner(api, "POST", FINDINGS, SEED_FINDING)
    status, second = scanner(api, "POST", FINDINGS, finding(severity="HIGH", message="again"))
    assert status == 200
    assert second["id"] == first["id"]
    assert second["occurrences"] == 2
    assert second["first_seen"] == first["first_seen"]
    assert second["last_seen"] >= first["last_seen"]
    assert (second["severity"], second["message"]) == ("high", "again")
    assert [f.id for f in all_findings()] == [first["id"]]


def test_another_check_or_resource_is_another_finding(api):
    ids = {scanner(api, "POST", FINDINGS, body)[1]["id"] for body in (
        SEED_FINDING, finding(check_name="run_as_root"), finding(resource_name="other"),
        finding(namespace="prod"), finding(resource_type="Deployment"))}
    assert len(ids) == 5
    assert len(all_findings()) == 5


def test_clear_removes_findings_but_keeps_dismissed_ones(api):
    ids = [scanner(api, "POST", FINDINGS, finding(check_name=f"check-{i}"))[1]["id"]
           for i in range(30)]  # more than one BatchWriteItem of 25
    store = get_container().security_findings
    assert store.set_dismissed("default", ids[0], True).dismissed
    status, body = scanner(api, "POST", CLEAR)  # Kure's scanner sends no body
    assert status == 200
    assert body == {"message": "Security findings cleared", "count": 29, "complete": True}
    assert [f.id for f in all_findings()] == [ids[0]]


def test_a_dismissed_finding_stays_dismissed_when_reported_again(api):
    _, first = scanner(api, "POST", FINDINGS, SEED_FINDING)
    get_container().security_findings.set_dismissed("default", first["id"], True)
    _, again = scanner(api, "POST", FINDINGS, SEED_FINDING)
    assert (again["dismissed"], again["occurrences"]) == (True, 2)


def test_deleting_a_resource_removes_only_its_findings(api, make_key):
    for check in ("a", "b", "c"):
        scanner(api, "POST", FINDINGS, finding(check_name=check))
    _, kept = scanner(api, "POST", FINDINGS, finding(resource_name="my-app-7d9f8b6c4-abc1"))
    path = f"{FINDINGS}/resource/Pod/default/my-app-7d9f8b6c4-abc12"
    status, body = api.call("DELETE", path, key=None,
                            headers={"X-Service-Token": make_key("ingest")})
    assert status == 200
    assert (body["count"], body["message"]) == (3, "Deleted 3 findings for resource")
    assert [f.id for f in all_findings()] == [kept["id"]]
    assert scanner(api, "DELETE", path)[1]["count"] == 0


def test_a_resource_name_that_cannot_be_a_kubernetes_name_is_refused(api):
    status, body = scanner(api, "DELETE", f"{FINDINGS}/resource/Pod/default/a%23b")
    assert (status, body["code"]) == (422, "invalid_payload")


def test_rescan_status_is_stored_per_workspace(api):
    status, body = scanner(api, "POST", RESCAN,
                           {"status": "started", "reason": "trusted_registry_change"})
    assert status == 200
    assert (body["status"], body["reason"]) == ("started", "trusted_registry_change")
    _, done = scanner(api, "POST", RESCAN, {"status": "completed", "reason": None})
    stored = get_container().security_findings.scan_status("default")
    assert stored.status == "completed"
    assert stored.reason is None
    assert (stored.started_at, stored.completed_at) == (body["started_at"], done["updated_at"])
    assert get_container().security_findings.scan_status("other") is None


def test_scan_durations_are_recorded_newest_first(api):
    for seconds in (12.5, 30, 7.25):
        status, body = scanner(api, "POST", DURATION, {"duration_seconds": seconds})
        assert status == 200
        assert body["message"] == "Scan duration recorded"
    durations = get_container().security_findings.durations("default", 10)
    assert [d.duration_seconds for d in durations] == [7.25, 30, 12.5]


def test_only_the_latest_durations_are_kept(api, monkeypatch):
    from chalicelib.adapters import dynamodb_security

    monkeypatch.setattr(dynamodb_security, "DURATION_SLOTS", 3)
    for seconds in range(1, 6):
        scanner(api, "POST", DURATION, {"duration_seconds": seconds})
    durations = get_container().security_findings.durations("default", 10)
    assert [d.duration_seconds for d in durations] == [5, 4, 3]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", FINDINGS, SEED_FINDING), ("POST", CLEAR, None),
    ("POST", RESCAN, {"status": "started"}), ("POST", DURATION, {"duration_seconds": 1}),
    ("DELETE", f"{FINDINGS}/resource/Pod/default/x", None)])
def test_every_scanner_route_needs_a_key_with_the_ingest_scope(api, make_key, method, path,
                                                               body):
    status, answer = api.call(method, path, key=None, body=body)
    assert status == 401
    assert set(answer) >= {"error", "detail", "code"}
    status, answer = scanner(api, method, path, body, key=make_key("incidents:read"))
    assert (status, answer["code"]) == (403, "missing_scope")


@pytest.mark.parametrize(("path", "body"), [
    (FINDINGS, finding(severity="urgent")),
    (FINDINGS, finding(check_name=None)),
    (FINDINGS, finding(resource_name="")),
    (FINDINGS, finding(namespace="x" * 254)),
    (FINDINGS, finding(resource_type="Pod#1")),
    (FINDINGS, finding(details={"blob": "x" * 20_000})),
    (FINDINGS, finding(message="x" * 9_000)),
    (FINDINGS, ["not", "an", "object"]),
    (RESCAN, {"status": "paused"}),
    (RESCAN, {"reason": "no status"}),
    (DURATION, {}),
    (DURATION, {"duration_seconds": -1}),
    (DURATION, {"duration_seconds": True}),
    (DURATION, {"duration_seconds": "soon"}),
])
def test_bad_bodies_are_422_in_the_error_shape(api, path, body):
    status, answer = scanner(api, "POST", path, body)
    assert status == 422, answer
    assert answer["code"] == "invalid_payload"
    assert answer["error"] == answer["detail"]


def test_a_key_of_another_workspace_writes_there_only(api, make_key):
    other = make_key("ingest", workspace="other")
    _, mine = scanner(api, "POST", FINDINGS, SEED_FINDING, key=other)
    scanner(api, "POST", RESCAN, {"status": "started"}, key=other)
    scanner(api, "POST", DURATION, {"duration_seconds": 3}, key=other)
    assert [f.id for f in all_findings("other")] == [mine["id"]]
    assert all_findings("default") == []
    store = get_container().security_findings
    assert store.get("default", mine["id"]) is None
    assert store.scan_status("default") is None
    assert store.durations("default", 10) == []
    _, theirs = scanner(api, "POST", FINDINGS, SEED_FINDING)
    assert theirs["id"] != mine["id"]
    status, _ = scanner(api, "POST", CLEAR, key=other)
    assert status == 200
    assert [f.id for f in all_findings("default")] == [theirs["id"]]
    status, body = scanner(api, "POST", FINDINGS, SEED_FINDING, key=other,
                           **{"X-Workspace-Id": "default"})
    assert (status, body["code"]) == (403, "wrong_workspace")


def test_a_clear_stops_at_its_bound_and_says_so(api, monkeypatch):
    from chalicelib.services import security_ingest

    monkeypatch.setattr(security_ingest, "MAX_CLEAR_ITEMS", 3)
    for i in range(5):
        scanner(api, "POST", FINDINGS, finding(check_name=f"c{i}"))
    _, body = scanner(api, "POST", CLEAR)
    assert (body["count"], body["complete"]) == (3, False)
    _, body = scanner(api, "POST", CLEAR)
    assert (body["count"], body["complete"]) == (2, True)
    assert all_findings() == []


def test_a_list_filtered_by_resource_and_a_foreign_cursor(api):
    for name in ("a", "b"):
        for check in ("x", "y", "z"):
            scanner(api, "POST", FINDINGS, finding(resource_name=name, check_name=check))
    store = get_container().security_findings
    page = store.list("default", limit=2, cursor=None, resource=("Pod", "default", "b"))
    assert {f.resource_name for f in page.items} == {"b"}
    first = store.list("default", limit=1, cursor=None)
    from chalicelib.domain.errors import BadRequest

    with pytest.raises(BadRequest):
        store.list("default", limit=2, cursor=first.next_cursor,
                   resource=("Pod", "default", "b"))
