"""Jobs and CronJobs: failed Jobs (backoff limit, deadline) with the failing pod's exit,
suspended CronJobs and CronJobs whose latest run failed."""

from __future__ import annotations

from collections import defaultdict

from chalicelib.domain.kube import Finding, Obj, SnapshotIndex, event_line, meta
from chalicelib.plugins.analyzers._common import (
    condition,
    condition_line,
    new_finding,
    plural,
    state_detail,
)
from chalicelib.plugins.analyzers._containers import describe_exit, last_termination

NAME = "job"
DEFAULT_BACKOFF_LIMIT = 6


def analyze(index: SnapshotIndex) -> list[Finding]:
    """Failed Jobs, then CronJob findings."""
    found = [f for job in index.items("jobs") if (f := job_failed(index, job))]
    runs: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for job in index.items("jobs"):
        owner = index.owner(job)
        if owner and owner.get("kind") == "CronJob":
            runs[(meta(job).get("namespace") or "", owner.get("name") or "")].append(job)
    for cronjob in index.items("cronjobs"):
        key = (meta(cronjob).get("namespace") or "", meta(cronjob).get("name") or "")
        found.extend(cronjob_findings(index, cronjob, runs.get(key, [])))
    return found


def _failed(job: Obj) -> Obj | None:
    cond = condition(job, "Failed")
    return cond if cond and cond.get("status") == "True" else None


def job_failed(index: SnapshotIndex, job: Obj) -> Finding | None:
    """A Job whose Failed condition is True."""
    cond = _failed(job)
    if cond is None:
        return None
    ns, name = meta(job).get("namespace"), meta(job).get("name") or ""
    status, spec = job.get("status") or {}, job.get("spec") or {}
    reason = cond.get("reason") or "Failed"
    failed = int(status.get("failed") or 0)
    limit = spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
    if reason == "BackoffLimitExceeded":
        message = f"Job {name} failed: {plural(failed, 'pod')} failed, exhausting its " \
                  f"backoffLimit of {limit}" if failed else \
            f"Job {name} failed (BackoffLimitExceeded, backoffLimit {limit}) with no failed " \
            f"pod counted"
        finding_reason = "BackoffLimitExceeded"
    else:
        message = f"Job {name} failed ({reason}): {cond.get('message') or 'no message'}"
        finding_reason = "JobFailed"
    evidence = [condition_line(cond), f"spec.backoffLimit: {limit}",
                f"status.failed: {failed} status.succeeded: {int(status.get('succeeded') or 0)}"]
    events = index.events_for("Job", ns, name)
    cause, lines = _cause(index.pods_owned_by("Job", ns, name), events)
    message += cause
    evidence.extend(lines)
    evidence.extend(event_line(e) for e in events if e.get("reason") in (
        reason, "BackoffLimitExceeded", "DeadlineExceeded"))
    return new_finding(NAME, job, "Job", "critical", finding_reason, message=message + ".",
                       evidence=evidence, parent=index.top_owner(job))


def _cause(pods: list[Obj], events: list[Obj]) -> tuple[str, list[str]]:
    """What the failed pods say (their latest non-zero exit), or, when no pod exists, why
    none could be created; as a message tail and evidence lines."""
    last = _last_failure(pods)
    if last:
        pod, section, container, which, term = last
        # Without timestamps the pods cannot be ordered: do not call one the last.
        timed = term.get("finishedAt") or (pod.get("status") or {}).get("startTime")
        tail = f"; {'its last' if timed else 'a'} failed pod {meta(pod).get('name')}: " \
               f"container {container} {describe_exit(term)}"
        return tail, [f"pod {meta(pod).get('name')} {section}[{container}].{which}.terminated: "
                      f"{state_detail(term)}"]
    # A FailedCreate is only the cause when no pod ever ran; otherwise it is stale.
    creates = [e for e in events if e.get("reason") == "FailedCreate"]
    if pods or not creates:
        return "", []
    return f"; its pods could not be created: {creates[-1].get('message')}", \
        [event_line(creates[-1])]


def _last_failure(pods: list[Obj]) -> tuple[Obj, str, str, str, Obj] | None:
    """The most recent non-zero container exit among a Job's pods."""
    best: tuple[str, tuple[Obj, str, str, str, Obj]] | None = None
    for pod in pods:
        status = pod.get("status") or {}
        for section in ("initContainerStatuses", "containerStatuses"):
            for cs in status.get(section) or []:
                found = last_termination(cs)
                if not found or str(found[1].get("exitCode", 0)) == "0":
                    continue
                which, term = found
                when = str(term.get("finishedAt") or status.get("startTime") or "")
                order = f"{when}|{meta(pod).get('name')}"
                if best is None or order > best[0]:
                    best = (order, (pod, section, cs.get("name") or "?", which, term))
    return best[1] if best else None


def cronjob_findings(index: SnapshotIndex, cronjob: Obj, runs: list[Obj]) -> list[Finding]:
    """A suspended CronJob, and one whose latest Job failed."""
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    name = meta(cronjob).get("name")
    found = []
    if spec.get("suspend"):
        last = status.get("lastScheduleTime")
        message = f"CronJob {name} is suspended, so its schedule \"{spec.get('schedule')}\" " \
                  f"starts no Jobs" + (f" (last scheduled {last})" if last else "") + "."
        found.append(new_finding(NAME, cronjob, "CronJob", "info", "CronJobSuspended",
                                 message=message, evidence=["spec.suspend: true",
                                           f"spec.schedule: {spec.get('schedule')}"]))
    if runs:
        latest = max(runs, key=lambda j: (str((j.get("status") or {}).get("startTime") or
                                              meta(j).get("creationTimestamp") or ""),
                                          meta(j).get("name") or ""))
        cond = _failed(latest)
        if cond:
            failed = [j for j in runs if _failed(j)]
            message = f"The latest run of CronJob {name}, Job {meta(latest).get('name')}, " \
                      f"failed ({cond.get('reason') or 'Failed'}); {len(failed)} of the " \
                      f"{len(runs)} runs in the snapshot failed."
            evidence = [f"job {meta(latest).get('name')} {condition_line(cond)}",
                        *(f"status.{k}: {status[k]}" for k in (
                            "lastScheduleTime", "lastSuccessfulTime") if status.get(k))]
            found.append(new_finding(NAME, cronjob, "CronJob", "warning", "LastJobFailed",
                                     message=message, evidence=evidence))
    return found
