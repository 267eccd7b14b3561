"""The cold-start, package-size and ingest benchmarks keep their JSON shape (fake figures or
a tiny in-process run; no timing)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from bench import cold_start, ingest, package_size

MB = 2**20


def sample(import_ms: float, request_ms: float, heavy: list[str] | None = None,
           status: int = 200) -> dict:
    return {"import_ms": import_ms, "boto3_ms": 50.0, "request_ms": request_ms,
            "status": status, "heavy_modules": heavy or []}


def cold_report(ingest_request_ms: float = 100.0, admin_heavy: list[str] | None = None) -> dict:
    samples = {"ingest": [sample(100, ingest_request_ms), sample(300, 900), sample(110, 90)],
               "admin": [sample(80, 20, admin_heavy)] * 3,
               "diagnosis": [sample(200, 50, ["openai"])] * 3}
    return cold_start.summarize(samples, [190.0, 200.0, 500.0], runs=3)


def test_cold_start_reports_medians_per_group_against_the_baseline_median():
    report = cold_report()
    ingest = report["groups"]["ingest"]
    assert report["baseline"]["total_ms"] == 200.0
    assert (ingest["import_ms"], ingest["first_request_ms"], ingest["total_ms"]) == (110, 150, 250)
    assert ingest["ratio_to_baseline"] == 1.25
    assert ingest["route"] == "POST /webhook"
    assert json.loads(json.dumps(report)) == report


def test_cold_start_budgets_hold_when_ingest_is_cheap_and_light_groups_stay_light():
    report = cold_report()
    assert set(report["budgets"]) == {"ingest_cold_start_vs_baseline",
                                      "ingest_loads_no_heavy_modules",
                                      "admin_loads_no_heavy_modules"}
    assert report["within_budget"] is True
    assert report["all_served"] is True
    assert "not a Lambda init" in report["meaning"]


def test_cold_start_budgets_fail_on_a_slow_ingest_or_a_heavy_admin_group():
    report = cold_report(ingest_request_ms=500.0, admin_heavy=["kubernetes"])
    budgets = report["budgets"]
    assert budgets["ingest_cold_start_vs_baseline"]["holds"] is False
    assert budgets["admin_loads_no_heavy_modules"] == {
        "limit": "none of openai, kubernetes", "measured": ["kubernetes"], "holds": False}
    assert report["within_budget"] is False


def test_cold_start_flags_a_route_that_was_not_served():
    samples = {"incidents": [sample(100, 100, status=401)]}
    report = cold_start.summarize(samples, [200.0], runs=1)
    assert report["groups"]["incidents"]["served"] is False
    assert report["all_served"] is False


ZIPS = {"ingest.zip": (8 * MB, {"app.py": 2_000, "chalicelib": 1 * MB, "pydantic": 2 * MB,
                                 "pydantic-2.0.dist-info": 10_000, "cryptography": 14 * MB}),
        "diagnosis.zip": (12 * MB, {"app.py": 2_000, "chalicelib": 1 * MB, "openai": 9 * MB,
                                    "kubernetes": 16 * MB, "six.py": 30_000,
                                    "cryptography": 30 * MB})}
FUNCTIONS = {"IngestApiHandler": "ingest.zip", "AlertsSubscriber": "ingest.zip",
             "DiagnosisApiHandler": "diagnosis.zip", "DiagnosesConsumer": "diagnosis.zip"}


def test_package_size_reports_every_lambda_with_its_own_zip_sizes():
    report = package_size.summarize(ZIPS, FUNCTIONS, top=2)
    assert set(report["lambdas"]) == set(FUNCTIONS)
    ingest = report["lambdas"]["AlertsSubscriber"]
    assert ingest == {"zip": "ingest.zip", "zip_mb": 8.0,
                      "unzipped_mb": round((2_000 + 17 * MB + 10_000) / MB, 2)}
    package = report["packages"]["ingest.zip"]
    assert package["lambdas"] == ["AlertsSubscriber", "IngestApiHandler"]
    assert package["largest_packages"] == [{"name": "cryptography", "mb": 14.0},
                                           {"name": "pydantic", "mb": 2.0}]
    assert json.loads(json.dumps(report)) == report


def test_package_size_budget_fails_when_any_lambda_is_over_50_mb_unzipped():
    report = package_size.summarize(ZIPS, FUNCTIONS)
    assert report["packages"]["ingest.zip"]["within_budget"] is True
    assert report["packages"]["diagnosis.zip"]["within_budget"] is False
    assert report["largest_lambda"]["zip"] == "diagnosis.zip"
    budget = report["budgets"]["every_lambda_unzipped"]
    assert budget["holds"] is False
    assert budget["measured"] == report["lambdas"]["DiagnosisApiHandler"]["unzipped_mb"] > 50
    assert report["within_budget"] is False


def test_package_size_budget_holds_when_every_zip_is_small():
    report = package_size.summarize({"ingest.zip": ZIPS["ingest.zip"]},
                                    {"IngestApiHandler": "ingest.zip"})
    assert report["within_budget"] is True
    assert report["budgets"]["every_lambda_unzipped"]["limit"] == "< 50.0 MB unzipped"


def test_cold_start_sends_each_group_the_api_gateway_event_of_its_route():
    event = cold_start.proxy_event("incidents")
    assert (event["httpMethod"], event["requestContext"]["resourcePath"]) == ("GET", "/incidents")
    assert event["headers"]["x-api-key"] == cold_start.ADMIN_KEY
    assert event["body"] is None


def test_cold_start_posts_a_new_alert_on_every_ingest_run():
    first, second = (json.loads(cold_start.proxy_event("ingest")["body"]) for _ in range(2))
    assert first["title"] != second["title"]
    assert first["title"].startswith(cold_start.ALERT["title"])


def test_cold_start_reports_cpu_time_against_the_baseline_cpu_time():
    samples = {"ingest": [{**sample(100, 100), "cpu_ms": 300.0}] * 3}
    report = cold_start.summarize(samples, [200.0] * 3, runs=3, baseline_cpu=[150.0] * 3)
    assert report["baseline"]["cpu_ms"] == 150.0
    assert report["groups"]["ingest"]["cpu_ratio_to_baseline"] == 2.0


@pytest.fixture(scope="module")
def ingest_report() -> dict:
    """bench.ingest in-process on moto with a handful of alerts (no stack, no sockets)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = ingest.main(["--alerts", "3", "--group-size", "4", "--no-stack", "--stock-moto"])
    assert code == 0
    return json.loads(out.getvalue())


def test_ingest_reports_new_and_duplicate_rates_per_mode_with_their_outcomes(ingest_report):
    report = ingest_report
    assert report["benchmark"] == "ingest"
    assert "embedded_stack" not in report
    for mode, size in (("single", 1), ("grouped", 4)):
        measured = report["in_process"][mode]
        assert measured["group_size"] == size
        for kind, action in (("new", "created"), ("duplicate", "deduplicated")):
            assert measured[kind]["alerts_per_second"] > 0
            assert measured[kind]["actions"] == {action: 3}
            assert measured[kind]["outcomes_ok"] is True
    assert report["all_recorded"] is True


def test_ingest_counts_dynamodb_and_sqs_calls_per_alert_by_operation(ingest_report):
    report = ingest_report
    new, duplicate = report["calls_per_new_alert"], report["calls_per_duplicate_alert"]
    assert new["actions"] == {"created": 1} and duplicate["actions"] == {"deduplicated": 1}
    assert new["by_operation"]["dynamodb.TransactWriteItems"] == 1
    assert new["sqs"] == new["by_operation"]["sqs.SendMessageBatch"] == 1
    assert "dynamodb.TransactWriteItems" not in duplicate["by_operation"]
    assert duplicate["sqs"] == 0
    assert duplicate["dynamodb_writes"] == duplicate["by_operation"]["dynamodb.UpdateItem"]


def test_ingest_reads_the_claims_of_a_group_in_one_batch(ingest_report):
    group = ingest_report["calls_per_alert_in_a_group"]
    assert group["group_size"] == 4
    calls = group["duplicate"]["by_operation_per_group"]
    assert calls["dynamodb.BatchGetItem"] == 1
    assert calls["dynamodb.UpdateItem"] == 4
    assert group["duplicate"]["dynamodb_writes"] == 1.0


def test_ingest_checks_the_write_budget_of_new_and_duplicate_alerts(ingest_report):
    report = ingest_report
    assert report["budget"] == ingest.budget(2, 1) == {
        "writes_per_new_alert": {"limit": 2, "measured": 2, "holds": True},
        "writes_per_duplicate_alert": {"limit": 1, "measured": 1, "holds": True}}
    assert report["within_budget"] is True


def test_ingest_budget_fails_when_an_alert_costs_more_writes():
    budget = ingest.budget(3, 2)
    assert [b["holds"] for b in budget.values()] == [False, False]
