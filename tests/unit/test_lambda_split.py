"""`make package` splits chalice's one API function and one zip into one per endpoint group."""

from __future__ import annotations

import copy
import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

from infra import lambda_template
from infra.lambda_probe import app_groups, source_imports
from infra.lambda_zips import NEEDS, Wheelhouse, add_bytecode, write_group_zip
from tests.conftest import ROOT

URI = ("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
       "${APIHandler.Arn}/invocations")


def operation() -> dict:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": {"Fn::Sub": URI}}}


def function(handler: str, code: str = "./deployment.zip") -> dict:
    return {"Type": "AWS::Serverless::Function",
            "Properties": {"Handler": handler, "CodeUri": code,
                           "Environment": {"Variables": {"DROVER_STAGE": "prod"}}}}


SAM = {
    "Resources": {
        "APIHandler": {**function("app.app"), "DependsOn": ["ApiHandlerDataAccess"]},
        "APIHandlerInvokePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {"FunctionName": {"Ref": "APIHandler"},
                           "Principal": "apigateway.amazonaws.com"}},
        "AlertsSubscriber": function("chalicelib.events.alerts_topic.on_alert_message"),
        "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": {"paths": {
            "/webhook": {"post": operation()},
            "/api/pods/failed": {"post": operation(), "get": operation()},
        }}}},
    },
    "Outputs": {"APIHandlerArn": {"Value": {"Fn::GetAtt": ["APIHandler", "Arn"]}},
                "RestAPIId": {"Value": {"Ref": "RestAPI"}}},
}
ROUTES = {"ingest": [("/webhook", "POST"), ("/api/pods/failed", "POST")],
          "incidents": [("/api/pods/failed", "GET")]}
MODULES = {"ingest": ["chalicelib.api.ingest", "chalicelib.events.alerts_topic"],
           "incidents": ["chalicelib.api.incidents"]}


def uri_of(sam: dict, path: str, method: str) -> str:
    paths = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    return paths[path][method]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]


def test_each_group_gets_its_own_api_function_zip_and_invoke_permission():
    sam = lambda_template.split(SAM, ROUTES, MODULES)
    resources = sam["Resources"]
    assert "APIHandler" not in resources
    ingest = resources["IngestApiHandler"]
    assert ingest["Properties"]["CodeUri"] == "./ingest.zip"
    assert ingest["Properties"]["Environment"]["Variables"] == {"DROVER_STAGE": "prod",
                                                                "DROVER_GROUPS": "ingest"}
    assert ingest["DependsOn"] == ["ApiHandlerDataAccess"]
    assert resources["IncidentsApiHandlerInvokePermission"]["Properties"]["FunctionName"] == {
        "Ref": "IncidentsApiHandler"}
    assert sam["Outputs"]["IngestApiHandlerArn"] == {
        "Value": {"Fn::GetAtt": ["IngestApiHandler", "Arn"]}}
    assert "APIHandlerArn" not in sam["Outputs"]


def test_each_route_is_integrated_with_the_function_of_the_group_that_registers_it():
    sam = lambda_template.split(SAM, ROUTES, MODULES)
    assert "${IngestApiHandler.Arn}" in uri_of(sam, "/webhook", "post")
    assert "${IngestApiHandler.Arn}" in uri_of(sam, "/api/pods/failed", "post")
    assert "${IncidentsApiHandler.Arn}" in uri_of(sam, "/api/pods/failed", "get")
    assert "${APIHandler.Arn}" in uri_of(SAM, "/webhook", "post")  # the input is left alone


def test_event_functions_get_the_zip_and_groups_of_their_handlers_module():
    props = lambda_template.split(SAM, ROUTES, MODULES)["Resources"]["AlertsSubscriber"][
        "Properties"]
    assert props["CodeUri"] == "./ingest.zip"
    assert props["Environment"]["Variables"]["DROVER_GROUPS"] == "ingest"


def test_a_route_no_group_registers_fails_packaging():
    with pytest.raises(ValueError, match="no endpoint group registers GET /api/pods/failed"):
        lambda_template.split(SAM, {"ingest": ROUTES["ingest"]}, MODULES)


def test_a_route_claimed_by_two_groups_fails_packaging():
    with pytest.raises(ValueError, match="both 'ingest' and 'incidents'"):
        lambda_template.split(SAM, {**ROUTES, "incidents": [("/webhook", "post")]}, MODULES)


def test_an_event_function_outside_every_group_fails_packaging():
    with pytest.raises(ValueError, match="AlertsSubscriber's handler module"):
        lambda_template.split(SAM, ROUTES, {"incidents": MODULES["incidents"]})


def test_a_leftover_reference_to_chalices_api_function_fails_packaging():
    sam = copy.deepcopy(SAM)
    sam["Resources"]["AlertsSubscriber"]["DependsOn"] = ["APIHandler"]
    with pytest.raises(ValueError, match="still refers to APIHandler"):
        lambda_template.split(sam, ROUTES, MODULES)


def wheel(archive: zipfile.ZipFile, name: str, files: dict[str, str],
          requires: tuple[str, ...] = ()) -> None:
    meta = f"{name.replace('-', '_')}-1.0.dist-info"
    lines = [f"Name: {name}", *(f"Requires-Dist: {r}" for r in requires)]
    record = [*files, f"{meta}/METADATA", f"{meta}/RECORD"]
    for path, text in files.items():
        archive.writestr(path, text)
    archive.writestr(f"{meta}/METADATA", "\n".join(lines) + "\n")
    archive.writestr(f"{meta}/RECORD", "".join(f"{p},,\n" for p in record))


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "app = None\n")
        archive.writestr("chalicelib/__init__.py", "")
        archive.writestr("chalice/app.py", "")
        wheel(archive, "pydantic", {"pydantic/__init__.py": "x" * 100,
                                    "pydantic/__init__.pyi": "stub"}, ("typing-extensions",))
        wheel(archive, "typing_extensions", {"typing_extensions.py": "x" * 10})
        wheel(archive, "cryptography", {"cryptography/__init__.py": "x" * 1000,
                                        "cryptography/tests/test_x.py": "t"},
              ("cffi; platform_python_implementation != 'PyPy'", "boto3; extra == 'aws'"))
        wheel(archive, "cffi", {"cffi/__init__.py": "c", "_cffi_backend.so": "c"})
        wheel(archive, "kubernetes", {"kubernetes/__init__.py": "k" * 5000})
    return path


def test_a_group_zip_holds_own_code_and_only_its_needed_distributions(deployment, tmp_path):
    with zipfile.ZipFile(deployment) as archive:
        made = write_group_zip(archive, Wheelhouse.read(archive), "ingest", tmp_path)
    names = set(zipfile.ZipFile(made.path).namelist())
    assert {"app.py", "chalicelib/__init__.py", "chalice/app.py", "pydantic/__init__.py",
            "typing_extensions.py", "cryptography/__init__.py", "_cffi_backend.so"} <= names
    assert not any(n.startswith("kubernetes") for n in names)
    assert made.dists == ("cffi", "cryptography", "pydantic", "typing-extensions")
    assert made.unzipped_bytes == sum(i.file_size for i in zipfile.ZipFile(made.path).infolist())


def test_a_group_zip_leaves_out_stubs_third_party_tests_and_install_records(deployment, tmp_path):
    with zipfile.ZipFile(deployment) as archive:
        made = write_group_zip(archive, Wheelhouse.read(archive), "ingest", tmp_path)
    names = zipfile.ZipFile(made.path).namelist()
    assert "pydantic/__init__.pyi" not in names
    assert "cryptography/tests/test_x.py" not in names
    assert not any(n.endswith("/RECORD") for n in names)
    assert "pydantic-1.0.dist-info/METADATA" in names


def test_a_file_that_belongs_to_no_distribution_nor_drover_is_refused(deployment):
    with zipfile.ZipFile(deployment, "a") as archive:
        archive.writestr("stray/module.py", "")
    with zipfile.ZipFile(deployment) as archive, pytest.raises(ValueError, match="stray"):
        Wheelhouse.read(archive)


def test_every_endpoint_group_of_app_py_says_which_packages_it_needs():
    groups = app_groups(ROOT / "app.py")
    assert set(groups) == set(NEEDS)
    assert "chalicelib.api.ingest" in groups["ingest"]


def test_the_light_groups_ship_neither_openai_nor_kubernetes():
    for group in ("ingest", "incidents", "admin"):
        assert not {"openai", "kubernetes"} & set(NEEDS[group]), group


def test_lazy_imports_inside_functions_are_found_in_the_source():
    imports = source_imports(ROOT)
    assert {"openai", "kubernetes.config.kube_config", "cryptography.x509"} <= imports


def test_the_modules_a_cold_start_imports_ship_as_bytecode_used_without_checking_times(
        deployment, tmp_path):
    with zipfile.ZipFile(deployment) as archive:
        made = write_group_zip(archive, Wheelhouse.read(archive), "admin", tmp_path)
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert add_bytecode(made.path, ["app.py", "pydantic/__init__.py"], runtime) == 2
    with zipfile.ZipFile(made.path) as archive:
        pyc = archive.read(importlib.util.cache_from_source("pydantic/__init__.py"))
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, not checked against source


def test_no_bytecode_is_added_for_another_python_than_the_lambda_runtimes(deployment, tmp_path):
    with zipfile.ZipFile(deployment) as archive:
        made = write_group_zip(archive, Wheelhouse.read(archive), "admin", tmp_path)
    assert add_bytecode(made.path, ["app.py"], "python2.7") == 0
    assert not any("__pycache__" in n for n in zipfile.ZipFile(made.path).namelist())
