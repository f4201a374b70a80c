"""What the alerts say. Pure functions from plain data (and Dagster's error records) to an
:class:`Alert`, which renders as Slack text + Block Kit blocks, or as plain text for a log.

Three alerts, as the users of the original system knew them:

* a failed run (``Lock acquisition failed`` when the run could not get its partition lock, with
  the steps to investigate; ``Grading run failed`` otherwise), with the root error;
* a failed asset check (``Grading Duplicate Alert`` for ``no_duplicate_business_keys``: the date,
  the number of duplicate business keys, the status and the action to take);
* a date written without its lock (locking disabled, or the lock backend unreachable with
  ``proceed_when_unavailable``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from grading_pipeline.sql_catalog import business_key

# Operator commands named in the alerts (one place to change them).
CMD_LOCKS_LIST = "grading-pipeline locks list"
CMD_LOCKS_FORCE_RELEASE = "grading-pipeline locks release {lock_type} {game_date}"
CMD_CLEANUP_DRY_RUN = "grading-pipeline cleanup --dry-run"
CMD_CLEANUP = "grading-pipeline cleanup"
CMD_GRADE = "grading-pipeline grade --start {start} --end {end}"

DUPLICATE_CHECK = "no_duplicate_business_keys"
DUPLICATE_SWEEP_CHECK = "no_duplicates_in_recent_days"  # the daily sweep (the old "Check 8")
DUPLICATE_CHECKS = frozenset({DUPLICATE_CHECK, DUPLICATE_SWEEP_CHECK})
DUPLICATE_ALERT_TITLE = "Grading Duplicate Alert"
LOCK_ACQUISITION_TITLE = "Lock acquisition failed"

#: Root error classes meaning "could not get the partition lock" (grading_pipeline.locks).
LOCK_ACQUISITION_ERRORS = frozenset({"LockTimeoutError", "LockBackendUnavailableError"})
#: ... and "had the lock, lost it before committing" (nothing was written).
LOCK_LOST_ERRORS = frozenset({"LockLostError", "FencedOutError"})
CHECK_BLOCKED_ERRORS = frozenset({"DagsterAssetCheckFailedError"})

# Slack limits (Block Kit): header 150 chars, section text 3000, field 2000, 10 fields a section,
# 50 blocks a message; chat.postMessage truncates `text` beyond 40,000 chars.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELD_MAX = 2000
_FIELDS_PER_SECTION = 10
_BLOCKS_MAX = 50
_TEXT_MAX = 39_000

FENCE = "```"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# ------------------------------------------------------------------------------------------------
# The alert
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One message. ``fields``: short (label, value) pairs; ``sections``: (heading, body) with a
    body in Slack mrkdwn-compatible plain text (``code`` and ```blocks``` are fine: user content
    is escaped when rendered for Slack); ``links``: (label, url)."""

    title: str
    summary: str
    fields: tuple[tuple[str, str], ...] = ()
    sections: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    kind: str = "alert"  # run_failure | lock_failure | check_failure | duplicates | unlocked_write | stat_correction | missed_deadline

    def plain_text(self) -> str:
        """The whole alert as plain text (what is logged when Slack is not configured)."""
        lines = [self.title, self.summary]
        lines += [f"{label}: {value}" for label, value in self.fields]
        for heading, body in self.sections:
            lines += ["", f"{heading}:", body]
        if self.links:
            lines.append("")
            lines += [f"{label}: {url}" for label, url in self.links]
        return "\n".join(lines)

    def slack_text(self) -> str:
        """The message's ``text``: the notification / fallback, escaped for Slack mrkdwn."""
        return _truncate(_escape(self.plain_text()), _TEXT_MAX)

    def slack_blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _truncate(self.title, _HEADER_MAX), "emoji": True}},
            _section(_escape(self.summary)),
        ]
        for i in range(0, len(self.fields), _FIELDS_PER_SECTION):
            chunk = self.fields[i : i + _FIELDS_PER_SECTION]
            blocks.append({
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _truncate(f"*{_escape(label)}*\n{_escape(value)}", _FIELD_MAX)}
                    for label, value in chunk
                ],
            })
        for heading, body in self.sections:
            blocks.append(_section(f"*{_escape(heading)}*\n{_escape(body)}"))
        if self.links:
            blocks.append({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "  |  ".join(f"<{url}|{_escape(label)}>" for label, url in self.links)}],
            })
        if len(blocks) > _BLOCKS_MAX:
            blocks = blocks[: _BLOCKS_MAX - 1] + [_section("_(message shortened: see the full text in the run's logs)_")]
        return blocks


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, _SECTION_MAX)}}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters: &, <, > (everything else is literal)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 6]
    closing = "\n" + FENCE if cut.count(FENCE) % 2 else ""  # close a code block left open
    return cut + " …" + closing


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 2] + " …"


# ------------------------------------------------------------------------------------------------
# Shared bits
# ------------------------------------------------------------------------------------------------


def run_url(webserver_base_url: str, run_id: str) -> str:
    return f"{webserver_base_url.rstrip('/')}/runs/{run_id}"


def asset_url(webserver_base_url: str, asset_path: Sequence[str]) -> str:
    return f"{webserver_base_url.rstrip('/')}/assets/{'/'.join(asset_path)}"


def describe_partitions(partition: str | None, tags: Mapping[str, str]) -> str:
    """``2026-01-17``, ``2026-01-01..2026-01-31`` (a single-run range backfill) or ``(none)``."""
    if partition:
        return partition
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        return start if start == end else f"{start}..{end}"
    return "(none)"


def _date_bounds(dates: str) -> tuple[str, str] | None:
    """``2026-01-17`` -> (d, d); ``a..b`` -> (a, b); anything else -> None."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dates):
        return dates, dates
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", dates)
    return (m.group(1), m.group(2)) if m else None


def compact_dates(dates: Iterable[str]) -> str:
    """Sorted dates with runs of consecutive days collapsed: ``2026-01-01..2026-01-03, 2026-01-07``."""
    import datetime as dt

    parsed: list[dt.date] = []
    others: list[str] = []
    for d in sorted(set(dates)):
        try:
            parsed.append(dt.date.fromisoformat(d))
        except ValueError:
            others.append(d)
    parts: list[str] = []
    i = 0
    while i < len(parsed):
        j = i
        while j + 1 < len(parsed) and (parsed[j + 1] - parsed[j]).days == 1:
            j += 1
        parts.append(parsed[i].isoformat() if i == j else f"{parsed[i].isoformat()}..{parsed[j].isoformat()}")
        i = j + 1
    return ", ".join(parts + others)


# ------------------------------------------------------------------------------------------------
# Errors of failed runs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorLink:
    cls_name: str
    message: str  # without the "module.Class: " prefix


@dataclass(frozen=True)
class StepFailure:
    step: str  # step key, or "(run)" for an error of the run itself
    chain: tuple[ErrorLink, ...]  # outermost first, following `.cause`

    @property
    def names(self) -> set[str]:
        return {link.cls_name for link in self.chain}

    @property
    def error(self) -> ErrorLink | None:
        """The error to show: the first one that is not Dagster wrapping the user's exception."""
        for i, link in enumerate(self.chain):
            wrapper = link.cls_name.startswith("Dagster") and i + 1 < len(self.chain) and _is_wrapper(link)
            if not wrapper:
                return link
        return self.chain[-1] if self.chain else None

    @property
    def root_cause(self) -> ErrorLink | None:
        """The innermost cause, when it differs from :attr:`error`."""
        if len(self.chain) > 1 and self.chain[-1] is not self.error:
            return self.chain[-1]
        return None


_WRAPPER_MESSAGES = ("Error occurred while", "Error occurred during")  # Dagster's wrappers of user code


def _is_wrapper(link: ErrorLink) -> bool:
    return link.message.startswith(_WRAPPER_MESSAGES) or link.cls_name in {
        "DagsterExecutionStepExecutionError",
        "DagsterResourceFunctionError",
        "DagsterUserCodeExecutionError",
        "DagsterExecutionLoadInputError",
        "DagsterExecutionHandleOutputError",
    }


def error_chain(error: Any) -> tuple[ErrorLink, ...]:
    """A Dagster ``SerializableErrorInfo`` (or None) as its ``.cause`` chain, outermost first
    (Dagster wraps a user exception: the wrapper's cause is the user's, whose cause is its own
    ``raise ... from``)."""
    links: list[ErrorLink] = []
    seen = 0
    while error is not None and seen < 20:
        seen += 1
        cls_name = getattr(error, "cls_name", None) or type(error).__name__
        message = str(getattr(error, "message", error) or "").strip()
        # SerializableErrorInfo.message is "module.Class: text" (traceback.format_exception_only).
        m = re.match(rf"^[\w.]*\b{re.escape(cls_name)}:\s*", message)
        if m:
            message = message[m.end():]
        elif message == cls_name or message.endswith("." + cls_name):
            message = ""
        links.append(ErrorLink(cls_name, message.strip()))
        error = getattr(error, "cause", None)
    return tuple(links)


def _code(text: str) -> str:
    """A Slack code block, fences on their own lines (a backtick at the end of the text cannot merge with them)."""
    return FENCE + "\n" + text.replace(FENCE, "` ` `") + "\n" + FENCE


def _fmt_error(link: ErrorLink | None, limit: int = 1500) -> str:
    if link is None:
        return "(no error recorded)"
    return _clip(f"{link.cls_name}: {link.message}" if link.message else link.cls_name, limit)


def _holder_run_id(message: str) -> str | None:
    """A LockTimeoutError names its holder, ``held by {run_id}:{step}:{host}:{pid}:{hex}``."""
    m = re.search(rf"held by ({_UUID}):", message)
    return m.group(1) if m else None


def _lock_key_of(message: str) -> tuple[str, str] | None:
    """(lock_type, date) of the first lock key named, e.g. ``lock daily_performance_2026-01-17``."""
    m = re.search(r"lock (\w+?)_(\d{4}-\d{2}-\d{2})\b", message)
    return (m.group(1), m.group(2)) if m else None


def run_failure_alert(
    *,
    run_id: str,
    job_name: str,
    tags: Mapping[str, str],
    failures: Sequence[StepFailure],
    run_message: str | None,
    webserver_base_url: str,
) -> Alert:
    """The alert of a failed run. ``failures``: one per failed step (or one "(run)" entry for a
    run-level error)."""
    partitions = describe_partitions(None, tags)
    bounds = _date_bounds(partitions)
    names = set().union(*(f.names for f in failures)) if failures else set()
    lock_failed = bool(names & LOCK_ACQUISITION_ERRORS)
    lock_lost = bool(names & LOCK_LOST_ERRORS)
    blocked = bool(names & CHECK_BLOCKED_ERRORS)

    if lock_failed:
        title, kind = f"{LOCK_ACQUISITION_TITLE}: {job_name} {partitions}", "lock_failure"
        summary = (f"Run of `{job_name}` for {partitions} failed: it could not get its partition lock, "
                   "so nothing was written for the dates of the failing batch (fail closed).")
    elif lock_lost:
        title, kind = f"Partition lock lost: {job_name} {partitions}", "lock_failure"
        summary = (f"Run of `{job_name}` for {partitions} lost its partition lock before committing; "
                   "its write was refused (another holder took over).")
    elif blocked:
        title, kind = f"Grading blocked by a failed check: {job_name} {partitions}", "run_failure"
        summary = (f"Run of `{job_name}` for {partitions} failed because a blocking asset check failed; "
                   "downstream assets were skipped in this run. See the check's alert.")
    else:
        title, kind = f"Grading run failed: {job_name} {partitions}", "run_failure"
        summary = f"Run of `{job_name}` for {partitions} failed."

    fields = [("Job", job_name), ("Partition" if bounds and bounds[0] == bounds[1] else "Partitions", partitions),
              ("Run", run_id),
              ("Failed steps", ", ".join(f.step for f in failures) or "(none recorded)")]
    if tags.get("dagster/retry_number"):
        # run_retries in dagster.yaml re-launches a failed run: each failed attempt is alerted
        fields.append(("Attempt", f"retry {tags['dagster/retry_number']} of run {tags.get('dagster/root_run_id', '?')}"))
    sections: list[tuple[str, str]] = []
    for failure in failures[:5]:
        body = _code(_fmt_error(failure.error))
        if failure.root_cause is not None:
            body += "\ncaused by:\n" + _code(_fmt_error(failure.root_cause, 600))
        sections.append((f"Error in {failure.step}", body))
    if len(failures) > 5:
        sections.append(("More failed steps", ", ".join(f.step for f in failures[5:])))
    if not failures and run_message:
        sections.append(("Error", _code(_clip(run_message, 1500))))

    links = [("View run in Dagster", run_url(webserver_base_url, run_id))]
    if lock_failed or lock_lost:
        messages = " ".join(link.message for f in failures for link in f.chain)
        holder_run = _holder_run_id(messages)
        lock_type, date = _lock_key_of(messages) or (
            "grading", bounds[0] if bounds and bounds[0] == bounds[1] else "DATE")
        rerun = (f"re-execute this run in Dagster, or `{CMD_GRADE.format(start=bounds[0], end=bounds[1])}`"
                 if bounds else "re-execute this run in Dagster")
        if "LockBackendUnavailableError" in names and "LockTimeoutError" not in names:
            steps = [
                "1. The lock backend could not be reached: check Firestore (or the SQLite lock file) and "
                "GRADING_LOCK_BACKEND / GRADING_FIRESTORE_PROJECT.",
                f"2. `{CMD_LOCKS_LIST}`: does the backend answer now, and does anyone hold the date(s)?",
                f"3. Re-run the date(s) once it answers: {rerun}. Do not switch locking off to get past this.",
            ]
        else:
            steps = [f"1. `{CMD_LOCKS_LIST}`: who holds the lock of the date(s), since when, and when its lease expires."]
            if holder_run:
                steps.append(f"2. Look at the holder's run ({holder_run}): is it still running, stuck, or dead?")
                links.append(("Holder's run", run_url(webserver_base_url, holder_run)))
            else:
                steps.append("2. Look at the holder's run (the first part of the holder id is its run id): "
                             "is it still running, stuck, or dead?")
            steps.append("3. A live holder: let it finish. A dead holder: its lease expires on its own; if certain "
                         f"it is dead, `{CMD_LOCKS_FORCE_RELEASE.format(lock_type=lock_type, game_date=date)}`.")
            steps.append(f"4. Re-run the date(s): {rerun}.")
        sections.append(("Investigate", "\n".join(steps)))
    elif not blocked and bounds:
        sections.append(("Next", "Fix the cause, then re-execute this run in Dagster or "
                         f"`{CMD_GRADE.format(start=bounds[0], end=bounds[1])}`."))
    return Alert(title=title, summary=summary, fields=tuple(fields), sections=tuple(sections), links=tuple(links), kind=kind)


# ------------------------------------------------------------------------------------------------
# Failed asset checks
# ------------------------------------------------------------------------------------------------


def metadata_value(value: Any) -> Any:
    """The plain value of a Dagster MetadataValue (or the value itself)."""
    return getattr(value, "value", value)


def _fmt_metadata(value: Any, limit: int = 300) -> str:
    value = metadata_value(value)
    if isinstance(value, (dict, list)):
        return _clip(json.dumps(value, default=str, sort_keys=True), limit)
    return _clip(str(value), limit)


def check_failure_alert(
    *,
    asset_path: Sequence[str],
    check_name: str,
    severity: str,
    partition: str | None,
    blocking: bool | None,
    description: str | None,
    metadata: Mapping[str, Any],
    run_id: str,
    run_tags: Mapping[str, str],
    webserver_base_url: str,
) -> Alert:
    """A failed asset check evaluation (severity "WARN" or "ERROR")."""
    if check_name in DUPLICATE_CHECKS:
        return duplicate_alert(
            check_name=check_name, asset_path=asset_path, severity=severity, partition=partition, blocking=blocking,
            metadata=metadata, run_id=run_id, run_tags=run_tags, webserver_base_url=webserver_base_url,
        )
    asset = "/".join(asset_path)
    dates = str(metadata_value(metadata.get("game_date")) or describe_partitions(partition, run_tags))
    title = f"Grading check failed ({severity}): {check_name} {dates}"
    summary = f"Asset check `{check_name}` on `{asset}` failed with severity {severity} for {dates}."
    if metadata_value(metadata.get("published")) is False:
        summary += (" It was found in the new rows before COMMIT: the write was ROLLED BACK and the "
                    "previous version of the date(s) is kept, whole.")
    elif blocking and severity == "ERROR":
        summary += " It is blocking: the run failed."
    fields = (("Asset", asset), ("Check", check_name), ("Severity", severity), ("Date(s)", dates), ("Run", run_id))
    sections: list[tuple[str, str]] = []
    if description:
        sections.append(("Description", _clip(description, 1500)))
    if metadata:
        shown = list(metadata.items())[:15]
        body = "\n".join(f"• {k}: {_fmt_metadata(v)}" for k, v in shown)
        if len(metadata) > len(shown):
            body += f"\n• … {len(metadata) - len(shown)} more in Dagster"
        sections.append(("Metadata", body))
    links = (("View run in Dagster", run_url(webserver_base_url, run_id)),
             ("Asset checks", asset_url(webserver_base_url, asset_path) + "?view=checks"))
    return Alert(title=title, summary=summary, fields=fields, sections=tuple(sections), links=links, kind="check_failure")


def _null(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _fmt_sample_key(key: Any, with_date: bool = False) -> str:
    if not isinstance(key, Mapping):
        return _clip(str(key), 300)
    first, last = key.get("first_graded_at"), key.get("last_graded_at")
    graded = f"{first} .. {last}" if first and last and first != last else first
    return _clip(
        (f"{_null(key.get('game_date'))} | " if with_date else "") +
        f"{_null(key.get('player_lookup'))} | {_null(key.get('game_id'))} | {_null(key.get('system_id'))} | "
        f"line {_null(key.get('line_value'))} | ×{key.get('copies')}" + (f" | graded_at {graded}" if graded else ""),
        400,
    )


def duplicate_alert(
    *,
    asset_path: Sequence[str],
    severity: str,
    partition: str | None,
    blocking: bool | None,
    metadata: Mapping[str, Any],
    run_id: str,
    run_tags: Mapping[str, str],
    webserver_base_url: str,
    check_name: str = DUPLICATE_CHECK,
) -> Alert:
    """``Grading Duplicate Alert``: a failed ``no_duplicate_business_keys`` check (or the daily
    sweep ``no_duplicates_in_recent_days``, same metadata plus ``per_date``)."""
    asset = "/".join(asset_path)
    dates = str(metadata_value(metadata.get("game_date")) or describe_partitions(partition, run_tags))
    duplicate_keys = metadata_value(metadata.get("duplicate_keys"))
    extra_rows = metadata_value(metadata.get("extra_rows"))
    per_date = metadata_value(metadata.get("per_date"))
    affected = sorted(d for d, n in per_date.items() if n) if isinstance(per_date, dict) else []
    if check_name == DUPLICATE_SWEEP_CHECK:
        status = (f"graded dates in {dates} contain duplicates (found by the daily duplicate sweep); "
                  "the deployment gate (`grading-pipeline sweep`) fails until they are removed")
    elif metadata_value(metadata.get("published")) is False:
        status = ("duplicates found in the new rows before COMMIT: the write was ROLLED BACK; "
                  "prediction_accuracy and system_daily_performance keep their previous version of the "
                  "date(s), and the run failed")
    else:
        status = "the stored rows contain duplicates (the check was run on the table as it is)"
    fields = [
        ("Date", dates),
        ("Duplicate business keys", str(duplicate_keys if duplicate_keys is not None else "unknown")),
        ("Extra rows", str(extra_rows if extra_rows is not None else "unknown")),
        ("Severity", severity),
        ("Status", status),
        ("Check", f"{asset} {check_name}"),
        ("Run", run_id),
    ]
    if affected:
        fields.insert(1, ("Dates with duplicates", _clip(compact_dates(affected), 1000)))
    bounds = (affected[0], affected[-1]) if affected else _date_bounds(dates)  # re-grading is idempotent
    rerun = (f"`{CMD_GRADE.format(start=bounds[0], end=bounds[1])}` (or re-execute the run in Dagster)"
             if bounds else "re-execute the run in Dagster")
    if metadata_value(metadata.get("published")) is False:
        action = "\n".join([
            "1. Nothing to clean: no duplicate was committed. The grading produced them from its inputs: "
            "look for a repeated box-score row (player_lookup, game_id) or prediction in the sample keys' date(s).",
            f"2. Fix the input, then re-run the date(s): {rerun}.",
        ])
    else:
        action = "\n".join([
            f"1. `{CMD_CLEANUP_DRY_RUN}`: see which duplicate rows would be removed.",
            f"2. `{CMD_CLEANUP}`: remove them (one row per business key is kept).",
            f"3. Re-run the date(s): {rerun}, so system_daily_performance is recomputed and the check passes.",
        ])
    sections = [("Action", action)]
    samples = metadata_value(metadata.get("sample_keys"))
    if isinstance(samples, str):
        try:
            samples = json.loads(samples)
        except ValueError:
            samples = [samples]
    if samples:
        shown = list(samples)[:10]
        with_date = any(isinstance(k, Mapping) and k.get("game_date") for k in shown)
        header = ("game_date | " if with_date else "") + "player_lookup | game_id | system_id | line_value | copies"
        body = header + "\n" + _code("\n".join(_fmt_sample_key(k, with_date) for k in shown))
        if len(samples) > len(shown):
            body += f"\n… {len(samples) - len(shown)} more in the check's metadata"
        sections.append(("Sample keys", body))
    links = (("View run in Dagster", run_url(webserver_base_url, run_id)),
             ("Asset checks", asset_url(webserver_base_url, asset_path) + "?view=checks"))
    summary = (f"{duplicate_keys if duplicate_keys is not None else 'Some'} business key(s) of `{asset}` have more than "
               f"one row in {dates} (key: {', '.join(business_key())}; NULL counts as a value).")
    return Alert(title=DUPLICATE_ALERT_TITLE, summary=summary, fields=tuple(fields), sections=tuple(sections),
                 links=links, kind="duplicates")


# ------------------------------------------------------------------------------------------------
# Writes without the lock
# ------------------------------------------------------------------------------------------------


@dataclass
class UnlockedWrite:
    run_id: str
    asset_path: tuple[str, ...]
    reasons: dict[str, list[str]] = field(default_factory=dict)  # reason -> dates

    def add(self, date: str | None, reason: str | None) -> None:
        dates = self.reasons.setdefault(reason or "(no reason recorded)", [])
        if (date or "(unpartitioned)") not in dates:
            dates.append(date or "(unpartitioned)")

    @property
    def dates(self) -> list[str]:
        return sorted({d for ds in self.reasons.values() for d in ds})


def unlocked_write_alert(write: UnlockedWrite, *, run_tags: Mapping[str, str], job_name: str | None,
                         webserver_base_url: str) -> Alert:
    asset = "/".join(write.asset_path)
    dates = write.dates
    shown = compact_dates(dates)
    title = f"Written WITHOUT the partition lock: {write.asset_path[-1]} {_clip(shown, 60)}"
    summary = (f"Run {write.run_id} wrote {len(dates)} date(s) of `{asset}` without holding their partition lock. "
               "Nothing stopped a concurrent run from writing the same date(s) at the same time.")
    fields = [("Asset", asset), ("Dates", _clip(shown, 1500)), ("Run", write.run_id)]
    if job_name:
        fields.append(("Job", job_name))
    partitions = describe_partitions(None, run_tags)
    if partitions != "(none)":
        fields.append(("Run partitions", partitions))
    reasons = "\n".join(f"• {reason} — {compact_dates(ds)}" for reason, ds in write.reasons.items())
    action = "\n".join([
        "1. If locking was switched off on purpose (GRADING_USE_LOCK=false), make sure no other run graded these "
        "dates at the same time; otherwise find out why the lock backend was unreachable.",
        f"2. `{CMD_CLEANUP_DRY_RUN}` to look for duplicates the unlocked write may have left; "
        f"`{CMD_CLEANUP}` if any.",
        "3. Turn locking back on (GRADING_USE_LOCK=true, reachable backend) before the next run.",
    ])
    sections = (("Reason", reasons), ("Action", action))
    links = (("View run in Dagster", run_url(webserver_base_url, write.run_id)),)
    return Alert(title=title, summary=summary, fields=tuple(fields), sections=sections, links=links, kind="unlocked_write")


@dataclass(frozen=True)
class GradeChanges:
    """What one re-grade of a date changed: the count, and per system `x: n grades changed, win rate a -> b`."""

    game_date: str
    grades_changed: int
    per_system: str


def stat_correction_alert(run_id: str, changes: Sequence[GradeChanges], *, webserver_base_url: str) -> Alert:
    """One message per run that re-graded dates and changed grades (a stat correction re-settles
    them): `stat correction: 2026-01-14, 3 grades changed, catboost_v8 win rate 0.612 -> 0.605`."""
    changes = sorted(changes, key=lambda c: c.game_date)
    total = sum(c.grades_changed for c in changes)
    dates = compact_dates([c.game_date for c in changes])
    title = f"stat correction: {_clip(dates, 60)}, {total} grade{'s' if total != 1 else ''} changed"
    # The system that changed most (listed first), as `catboost_v8 win rate 0.612 -> 0.605`.
    most = re.match(r"(\S+): \d+ grades? changed, (win rate .*)", changes[0].per_system.split("; ")[0])
    if len(changes) == 1 and most:
        title += f", {most.group(1)} {most.group(2)}"
    summary = (f"Run {run_id} graded {len(changes)} date(s) again after their inputs changed (a stat correction), "
               f"and {total} grade(s) flipped (prediction_correct, is_voided or actual_points).")
    sections = tuple((c.game_date, "\n".join(f"• {part}" for part in c.per_system.split("; "))) for c in changes[:20])
    return Alert(title=title, summary=summary, fields=(("Dates", _clip(dates, 1500)), ("Run", run_id)),
                 sections=sections, links=(("View run in Dagster", run_url(webserver_base_url, run_id)),),
                 kind="stat_correction")


def missed_deadline_alert(missed: Sequence[Any], *, webserver_base_url: str) -> Alert:
    """The dates (freshness.MissedDate: game_date, reason, run_id) past their grading deadline
    ungraded, and why, where known: one message for all of them."""
    dates = compact_dates([m.game_date.isoformat() for m in missed])
    title = f"NOT GRADED by the deadline: prediction_accuracy {_clip(dates, 60)}"
    summary = (f"{len(missed)} game date(s) with games are not graded, and their deadline "
               "(GRADING_FRESHNESS_DEADLINE of the next day, UTC) has passed.")
    reasons = "\n".join(f"• {m.game_date}: {m.reason}" for m in missed[:30])
    action = "\n".join([
        "1. Box scores missing: load them; the sensor grade_when_inputs_ready grades the date within 5 minutes.",
        "2. A failed run: open it, fix the cause, re-execute it (or materialize the date from the UI).",
        "3. Nothing launched: check that the Dagster daemon runs and the schedule and sensors are on.",
    ])
    links = tuple((f"Run {m.run_id}", run_url(webserver_base_url, m.run_id)) for m in missed[:5] if m.run_id)
    return Alert(title=title, summary=summary, fields=(("Dates", _clip(dates, 1500)),),
                 sections=(("Why", reasons), ("Action", action)), links=links, kind="missed_deadline")
