"""`python -m infra.local` as a user runs it: moto server, HTTP API, SQS consumers, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, load_alert

pytestmark = pytest.mark.integration
KEY = "drv_integration-admin"


@dataclass
class Stack:
    """A running embedded stack and what it printed."""

    process: subprocess.Popen[str]
    url: str
    aws_endpoint: str

    def http(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROVER_"))}
    env.update(DROVER_PORT=str(free_port()), DROVER_BOOTSTRAP_API_KEY=KEY,
               PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(printed)
    url = re.search(r"running at (http://\S+)", text)
    endpoint = re.search(r"AWS endpoint: (http://\S+)", text)
    assert url and endpoint and f"Admin API key: {KEY}" in text, text
    running = Stack(process, url.group(1), endpoint.group(1))
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_an_alert_over_http_becomes_a_deduplicated_incident_with_a_diagnosis_request(stack):
    payload = load_alert("alertmanager__kubesphere-kubepodcrashlooping-pod-ns.json")
    first = stack.http("POST", "/webhook", json=payload, headers={"X-Source": "alertmanager"})
    assert first.status_code == 200, first.text
    incident = first.json()["incident_id"]
    again = stack.http("POST", "/webhook", json=payload, headers={"X-Source": "alertmanager"})
    assert again.json()["incident_id"] == incident and again.json()["deduplicated"] is True

    def diagnosed() -> list[str] | None:
        events = stack.http("GET", f"/incidents/{incident}/timeline").json()["events"]
        kinds = [e["event_type"] for e in events]
        return kinds if "diagnosis_completed" in kinds else None

    kinds = wait_for(diagnosed, what="the consumer to diagnose the incident")
    assert kinds == ["alert_received", "incident_created", "diagnosis_requested",
                     "diagnosis_started", "diagnosis_completed"]
    assert stack.http("GET", "/incidents", headers={"Authorization": ""}).status_code == 401


def test_an_alert_for_a_failing_pod_on_a_registered_cluster_is_diagnosed(stack):
    from tests.fake_kube import FakeKubeServer

    case = ROOT.parent / "shared" / "eval" / "k8s" / "hg-crashloop-missing-env-var.json"
    if not case.exists():
        pytest.skip("k8s eval corpus not found")
    pod = "payment-processing-worker-747ccfb9db-pd6wz"
    with FakeKubeServer.from_case_files(case) as server:
        registered = stack.http("POST", "/v1/api/clusters", json={
            "name": "payments", "server": server.url, "token": server.token})
        assert registered.status_code == 201, registered.text
        alert = {"version": "4", "status": "firing", "receiver": "drover", "groupKey": "{}:{}",
                 "alerts": [{"status": "firing", "startsAt": "2026-11-24T10:00:00Z",
                             "labels": {"alertname": "KubePodCrashLooping", "pod": pod,
                                        "namespace": "default", "cluster": "payments",
                                        "severity": "critical"},
                             "annotations": {"summary": "Pod is crash looping."}}]}
        sent = stack.http("POST", "/webhook", json=alert, headers={"X-Source": "alertmanager"})
        assert sent.status_code == 200, sent.text
        incident = sent.json()["incident_id"]

        def diagnosis() -> dict | None:
            reply = stack.http("GET", f"/incidents/{incident}/timeline").json()["events"]
            if "diagnosis_completed" not in [e["event_type"] for e in reply]:
                return None
            return stack.http("GET", f"/incidents/{incident}/diagnosis").json()

        found = wait_for(diagnosis, timeout=20, what="the diagnosis of the incident")
    assert found["category"] == "CrashLoopBackOff-missing-config"
    assert "DEPLOY_ENV" in found["root_cause"]
    assert found["subject"]["cluster_name"] == "payments"


def test_concurrent_deliveries_of_a_new_alert_open_exactly_one_incident(stack):
    from concurrent.futures import ThreadPoolExecutor

    payload = {"title": "Racing alert", "source": "prometheus", "namespace": "race",
               "deployment": "api", "severity": "warning"}

    def deliver(_: int) -> dict:
        response = stack.http("POST", "/webhook", json=payload,
                              headers={"X-Source": "webhook", "X-Workspace-Id": "race"})
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(deliver, range(16)))
    assert len({a["incident_id"] for a in answers}) == 1
    assert sum(not a["deduplicated"] for a in answers) == 1
    listing = stack.http("GET", "/incidents", headers={"X-Workspace-Id": "race"}).json()
    assert listing["count"] == 1
    assert listing["incidents"][0]["alert_count"] == 16


def test_a_poison_message_ends_in_the_dead_letter_queue(stack):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue = sqs.get_queue_url(QueueName="drover-local-diagnoses")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="drover-local-diagnoses-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"incident_id": "inc-ghost",
                                                             "workspace_id": "default"}))

    def dead_lettered() -> list[dict] | None:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                  AttributeNames=["All"]).get("Messages")
        return got or None

    messages = wait_for(dead_lettered, timeout=45, what="the poison message in the DLQ")
    assert json.loads(messages[0]["Body"])["incident_id"] == "inc-ghost"
    assert int(messages[0]["Attributes"]["ApproximateReceiveCount"]) >= 3


def test_an_alarm_published_to_the_alerts_topic_becomes_an_incident(stack):
    import boto3

    sns = boto3.client("sns", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    topic = sns.create_topic(Name="drover-local-alerts")["TopicArn"]
    alarm = load_alert("aws-cloudwatch__alarm-message-single-metric-aws-lambda-go.json")
    alarm["AlarmName"] = "topic-alarm"
    sns.publish(TopicArn=topic, Message=json.dumps(alarm), Subject="ALARM: topic-alarm",
                MessageAttributes={"workspace_id": {"DataType": "String",
                                                    "StringValue": "topic"}})

    def incident() -> list[dict] | None:
        listed = stack.http("GET", "/incidents", headers={"X-Workspace-Id": "topic"}).json()
        return listed["incidents"] or None

    found = wait_for(incident, what="the topic subscriber to open an incident")
    assert [(i["title"], i["integration"]) for i in found] == [("topic-alarm", "cloudwatch")]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(stack):
    import boto3
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    table = "drover-local-incidents"
    existing = {"pk": {"S": "TEST#tx"}, "sk": {"S": "A"}, "n": {"N": "1"}}
    ddb.put_item(TableName=table, Item=existing)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": existing["pk"], "sk": existing["sk"]},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": table,
                     "Item": {"pk": {"S": "TEST#tx"}, "sk": {"S": "B"}}}},
            {"ConditionCheck": {"TableName": table,
                                "Key": {"pk": {"S": "TEST#tx"}, "sk": {"S": "C"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    items = ddb.query(TableName=table, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": "TEST#tx"}})["Items"]
    assert items == [existing]


def test_ctrl_c_stops_the_stack_cleanly(stack):
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(20) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.url + "/health", timeout=2)
