"""Create Drover's resources from infra/resources.json through CloudFormation.

The same template is deployed by the embedded stack (moto's CloudFormation), by LocalStack,
by the tests, and merged into `chalice package` output. Resource names come from the
stage's environment variables in .chalice/config.json, passed as template parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "infra" / "resources.json"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

# Template parameter -> the environment variable that carries the same name to the code.
PARAMETER_ENV: dict[str, str] = {
    "IncidentsTableName": "DROVER_INCIDENTS_TABLE",
    "AuditTableName": "DROVER_AUDIT_TABLE",
    "DiagnosesQueueName": "DROVER_DIAGNOSES_QUEUE",
    "ScansQueueName": "DROVER_SCANS_QUEUE",
    "AlertsTopicName": "DROVER_ALERTS_TOPIC",
    "ClustersKeyAlias": "DROVER_KMS_KEY_ALIAS",
    "RemediationStateMachineName": "DROVER_REMEDIATION_STATE_MACHINE",
}


def load_template() -> dict[str, Any]:
    """The resources template as a dict, each state machine's ``Definition`` read from the
    ASL file its ``Metadata.DefinitionFile`` names (kept beside the template, one per file)."""
    template = json.loads(TEMPLATE_PATH.read_text())
    for resource in template["Resources"].values():
        definition_file = resource.get("Metadata", {}).get("DefinitionFile")
        if definition_file:
            path = TEMPLATE_PATH.parent / definition_file
            resource["Properties"]["Definition"] = json.loads(path.read_text())
    return template


def stage_environment(stage: str) -> dict[str, str]:
    """Environment variables Chalice gives the stage's Lambdas (global, then stage)."""
    config = json.loads(CHALICE_CONFIG.read_text())
    if stage not in config.get("stages", {}):
        raise ValueError(f"stage '{stage}' is not defined in .chalice/config.json")
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def parameters(env: dict[str, str]) -> dict[str, str]:
    """Template parameter values taken from a stage environment."""
    missing = [var for var in PARAMETER_ENV.values() if var not in env]
    if missing:
        raise ValueError(f"stage environment lacks {', '.join(missing)}")
    return {param: env[var] for param, var in PARAMETER_ENV.items()}


def deploy(session: Any, stack_name: str, env: dict[str, str]) -> dict[str, str]:
    """Create the stack if it does not exist yet, wait for it, and return its outputs."""
    cfn = session.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        stack = None
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(load_template(), separators=(",", ":")),
            Parameters=[{"ParameterKey": k, "ParameterValue": v}
                        for k, v in parameters(env).items()],
        )
        cfn.get_waiter("stack_create_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    ensure_time_to_live(session, env)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def ensure_time_to_live(session: Any, env: dict[str, str]) -> None:
    """Enable each table's TTL as the template declares it.

    moto's CloudFormation ignores TimeToLiveSpecification; setting it again is harmless where
    CloudFormation did apply it.
    """
    ddb = session.client("dynamodb")
    names = parameters(env)
    for resource in load_template()["Resources"].values():
        props = resource.get("Properties", {})
        ttl = props.get("TimeToLiveSpecification")
        if resource["Type"] != "AWS::DynamoDB::Table" or not ttl or not ttl.get("Enabled"):
            continue
        table = names[props["TableName"]["Ref"]]
        status = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            continue
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
