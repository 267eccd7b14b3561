"""Security findings reported by a cluster scanner, the scan's status and durations.

A finding is keyed by (workspace, resource type, namespace, resource name, check): a
scanner reports the same problem on every scan, and each re-report updates one finding
(``last_seen``, ``occurrences``) instead of adding another. Kure Monitor's scanner sends
``title``/``description``/``category``/``timestamp``; seed 002 documents ``check_name``/
``message``/``details``. Both shapes are accepted and each fills the other's fields.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.models import Page

FindingSeverity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
ScanState = Literal["started", "completed"]
FINDING_PREFIX = "finding-"
MAX_TEXT = 8_192
MAX_DETAILS_BYTES = 16 * 1024
# Kure attaches the resource's YAML; keep the item well under DynamoDB's 400 KB.
MAX_MANIFEST = 64_000
MAX_SCAN_SECONDS = 7 * 24 * 3600
# Resource identifiers become parts of sort keys ('#') and of DELETE paths ('/', and '%'
# which would make a name ambiguous between its encoded and decoded forms).
_FORBIDDEN_IN_NAMES = frozenset("#/%")

M = TypeVar("M", bound=BaseModel)


def _identifier(value: str) -> str:
    if not (value.isascii() and value.isprintable()) or " " in value \
            or _FORBIDDEN_IN_NAMES & set(value):
        raise ValueError("must be printable ASCII without spaces, '#', '/' or '%'")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_identifier)]


def valid_identifier(value: str, what: str, max_length: int = 253) -> str:
    """A resource type, namespace or name from a path, or a 422 naming the problem."""
    if not value or len(value) > max_length:
        raise ValidationFailed(f"{what} must be 1-{max_length} characters",
                               code="invalid_payload")
    try:
        return _identifier(value)
    except ValueError as exc:
        raise ValidationFailed(f"{what} {exc}", code="invalid_payload") from None


def finding_id(workspace_id: str, resource_type: str, namespace: str, resource_name: str,
               check_name: str) -> str:
    """The stable id of a finding: the same key always gives the same id."""
    raw = "\x1f".join((workspace_id, resource_type, namespace, resource_name, check_name))
    return FINDING_PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


class SecurityFindingReport(BaseModel):
    """One finding as a scanner posts it (seed 002's fields or Kure's scanner's)."""

    model_config = ConfigDict(extra="ignore")

    resource_type: Annotated[Identifier, Field(max_length=63)]
    resource_name: Identifier
    namespace: Identifier
    check_name: str | None = Field(default=None, min_length=1, max_length=512)
    title: str | None = Field(default=None, min_length=1, max_length=512)
    severity: FindingSeverity
    category: str = Field(default="Security", max_length=64)
    message: str | None = Field(default=None, max_length=MAX_TEXT)
    description: str | None = Field(default=None, max_length=MAX_TEXT)
    remediation: str = Field(default="", max_length=MAX_TEXT)
    details: dict[str, Any] = Field(default_factory=dict)
    manifest: str = Field(default="", max_length=MAX_MANIFEST)
    timestamp: str | int | float | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("details")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, default=str))
        if size > MAX_DETAILS_BYTES:
            raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_DETAILS_BYTES}")
        return value

    @model_validator(mode="after")
    def _fill_aliases(self) -> SecurityFindingReport:
        check = (self.check_name or self.title or "").strip()
        if not check:
            raise ValueError("check_name (or title) is required: it names the failed check")
        self.check_name, self.title = check, (self.title or check).strip()
        self.message = self.message or self.description or ""
        self.description = self.description or self.message
        return self


class SecurityFinding(BaseModel):
    """A stored finding: the latest report plus when it was first and last seen."""

    id: str
    resource_type: str
    resource_name: str
    namespace: str
    check_name: str
    title: str
    severity: FindingSeverity
    category: str = "Security"
    message: str = ""
    description: str = ""
    remediation: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    manifest: str = ""
    timestamp: str
    dismissed: bool = False
    first_seen: str
    last_seen: str
    occurrences: int = 1


class ScanStatusReport(BaseModel):
    """The scanner saying a rescan started or completed, and why."""

    model_config = ConfigDict(extra="ignore")

    status: ScanState
    reason: str | None = Field(default=None, max_length=256)

    @field_validator("status", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class ScanStatus(BaseModel):
    """The latest scan status of a workspace."""

    status: ScanState
    reason: str | None = None
    updated_at: str
    started_at: str | None = None
    completed_at: str | None = None


class ScanDurationReport(BaseModel):
    """How long a full scan took (Kure's scanner sends only duration_seconds)."""

    model_config = ConfigDict(extra="ignore")

    duration_seconds: float = Field(ge=0, le=MAX_SCAN_SECONDS, allow_inf_nan=False)

    @field_validator("duration_seconds", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds")  # True would pass as 1.0
        return value


class ScanDuration(BaseModel):
    """One recorded scan duration."""

    duration_seconds: float
    recorded_at: str


@dataclass(frozen=True)
class ClearResult:
    """What a clear before a full rescan removed."""

    deleted: int
    complete: bool


def parse_body(model: type[M], body: Any, what: str) -> M:
    """Validate a request body against a model, turning errors into a clear 422."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                    for err in exc.errors()[:10]]
        raise ValidationFailed(f"body is not a valid {what}: {'; '.join(problems)}",
                               code="invalid_payload") from None


class SecurityFindingStore(ABC):
    """Findings, scan status and scan durations of each workspace."""

    @abstractmethod
    def upsert(self, workspace_id: str, report: SecurityFindingReport,
               now: str) -> SecurityFinding:
        """Create the finding or update it in place (last_seen, occurrences), atomically."""

    @abstractmethod
    def clear(self, workspace_id: str, *, keep_dismissed: bool, max_items: int) -> ClearResult:
        """Delete the workspace's findings (except dismissed ones if asked), at most max_items."""

    @abstractmethod
    def delete_resource(self, workspace_id: str, resource_type: str, namespace: str,
                        resource_name: str) -> int:
        """Delete every finding of one resource; return how many there were."""

    @abstractmethod
    def list(self, workspace_id: str, *, limit: int, cursor: str | None,
             resource: tuple[str, str, str] | None = None) -> Page:
        """Findings ordered by resource, all or of one (type, namespace, name)."""

    @abstractmethod
    def get(self, workspace_id: str, finding_id: str) -> SecurityFinding | None:
        """One finding of the workspace, or None."""

    @abstractmethod
    def set_dismissed(self, workspace_id: str, finding_id: str,
                      dismissed: bool) -> SecurityFinding | None:
        """Dismiss or restore a finding; None if there is no such finding."""

    @abstractmethod
    def put_scan_status(self, workspace_id: str, report: ScanStatusReport,
                        now: str) -> ScanStatus:
        """Record the latest scan status."""

    @abstractmethod
    def scan_status(self, workspace_id: str) -> ScanStatus | None:
        """The latest scan status, or None if no scan was reported."""

    @abstractmethod
    def add_duration(self, workspace_id: str, duration_seconds: float, now: str) -> ScanDuration:
        """Record a scan duration, keeping only the latest few."""

    @abstractmethod
    def durations(self, workspace_id: str, limit: int) -> list[ScanDuration]:
        """Recorded scan durations, newest first."""
