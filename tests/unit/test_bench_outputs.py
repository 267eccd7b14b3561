"""The cold-start and package-size benchmarks keep their JSON shape (fake figures, no timing)."""

from __future__ import annotations

import json

from bench import cold_start, package_size

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


SIZES = {"app.py": 2_000, "chalicelib": 1 * MB, "pydantic": 2 * MB,
         "pydantic-2.0.dist-info": 10_000, "openai": 40 * MB, "openai-3.0.dist-info": 20_000,
         "six.py": 30_000, "kubernetes": 16 * MB}
DISTS = {"pydantic": ["pydantic"], "openai": ["openai"], "six": ["six"],
         "kubernetes": ["kubernetes"]}


def test_package_size_reports_the_shared_zip_and_its_largest_packages():
    report = package_size.summarize(20 * MB, SIZES, {"ingest": {"pydantic"}}, DISTS, top=2)
    shared = report["shared_package"]
    assert shared["zip_mb"] == 20.0
    assert shared["unzipped_mb"] == report["per_lambda_unzipped_mb"] == round(
        sum(SIZES.values()) / MB, 2)
    assert shared["largest_packages"] == [{"name": "openai", "mb": 40.0},
                                          {"name": "kubernetes", "mb": 16.0}]
    assert report["budgets"]["every_lambda_unzipped"]["holds"] is False
    assert report["within_budget"] is False
    assert json.loads(json.dumps(report)) == report


def test_package_size_estimates_a_group_from_what_it_loads_plus_drovers_own_code():
    loaded = {"ingest": {"pydantic", "json", "sys"}, "diagnosis": {"pydantic", "openai"}}
    report = package_size.summarize(20 * MB, SIZES, loaded, DISTS)
    estimate = report["per_group_estimate"]
    assert "estimate" in estimate["note"]
    ingest = estimate["groups"]["ingest"]
    assert ingest["packages"] == ["app", "chalicelib", "pydantic"]
    assert ingest["unzipped_mb"] == round((2_000 + 3 * MB + 10_000) / MB, 2)
    assert ingest["within_budget"] is True
    assert estimate["groups"]["diagnosis"]["unzipped_mb"] > 40
    assert [p["name"] for p in report["not_loaded_at_import"]] == ["kubernetes"]
