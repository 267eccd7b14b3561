"""``make eval-diagnosis`` works on any directory of cases in the corpus format, and the case
client serves a case the way an API server would (what a case did not record is unknown)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import eval_diagnosis
from chalicelib.adapters.case_cluster import CaseClusterClient
from chalicelib.domain.errors import NotFound
from chalicelib.domain.kube import resource_kind
from chalicelib.services.cluster_snapshots import read_snapshot

HELD_OUT = Path(__file__).resolve().parents[1] / "diagnosis_cases"


def test_the_eval_prints_a_line_per_case_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_diagnosis.main([str(HELD_OUT)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    cases = sorted(HELD_OUT.glob("*.json"))
    assert len(lines) == len(cases) + 1
    for line in lines[:-1]:
        assert {"id", "expected", "predicted", "confidence", "seconds", "correct"} <= set(line)
        assert 0 <= line["confidence"] <= 1
    summary = lines[-1]
    assert summary["summary"] is True and summary["cases"] == len(cases)
    assert {"accuracy", "mean_confidence_correct", "mean_confidence_wrong",
            "p95_seconds"} <= set(summary)


def test_a_directory_that_does_not_exist_is_a_clear_error(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    assert eval_diagnosis.main([str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().out


def test_an_unreadable_case_is_reported_and_counted(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    assert eval_diagnosis.main([str(tmp_path)]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["id"] == "broken" and "error" in lines[0]
    assert lines[-1]["errors"] == 1


def test_kinds_a_case_did_not_record_are_missing_not_empty() -> None:
    client = CaseClusterClient({"pods": [{"metadata": {"name": "a", "namespace": "default"}}]},
                               {"a/app": "one\ntwo", "a/app/previous": "boom"})
    with pytest.raises(NotFound):
        client.list(resource_kind("storageclasses"))  # type: ignore[arg-type]
    snapshot = read_snapshot("c", client)
    assert "storageclasses" in snapshot.missing and "pods" not in snapshot.missing
    assert client.pod_log("default", "a", container="app", tail_lines=1) == "two"
    assert client.pod_log("default", "a", container="app", previous=True) == "boom"
    with pytest.raises(NotFound):
        client.pod_log("default", "b", container="app", previous=True)
