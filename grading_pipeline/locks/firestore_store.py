"""The production lock store: Firestore documents ``{lock_type}_locks/{lock_type}_{game_date}``
(the old system's layout), written by compare-and-swap.

A read is one ``get_all``; a conditional write is one atomic ``WriteBatch`` of ``create()`` for
absent documents and ``update()`` preconditioned on each document's ``update_time`` as read, so a
stale holder can never overwrite or release its successor's lock. Read-then-write transactions
are not used: on the emulator they stall under 8-way contention, and preconditions give the same
atomicity. Every time is the server's (a snapshot's ``read_time``); no client clock is involved.

Each call has a deadline (``timeout_seconds``, retries of UNAVAILABLE included). Deadlines, 503s
and exhausted quotas are *transient* (the policy retries them within its wait budget);
credentials, permissions, a missing database are permanent.

Production: enable the TTL policy on ``ttl_expire_at`` for each lock collection (``expires_at`` +
7 days, pushed on every renewal), so released locks and crashed runs' locks are deleted::

    gcloud firestore fields ttls update ttl_expire_at --collection-group=grading_locks --enable-ttl --project=P
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import replace
from typing import Any, Callable, Sequence, TypeVar

from .lease import LockBackendUnavailableError, LockRecord, collection_name, lock_key
from .store import Conflict, LockStore

T = TypeVar("T")
LOCK_COLLECTION_SUFFIX = "_locks"


def utc(value: Any) -> dt.datetime | None:
    """A plain UTC datetime (drops Firestore's DatetimeWithNanoseconds); None for anything else."""
    if not isinstance(value, dt.datetime):
        return None
    value = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    return dt.datetime(*value.timetuple()[:6], value.microsecond, tzinfo=dt.timezone.utc)


class FirestoreLockStore(LockStore):
    """``project`` / ``database``: None for the environment's defaults (``FIRESTORE_EMULATOR_HOST``
    selects the emulator). ``client``: an existing ``google.cloud.firestore.Client``."""

    name = "firestore"

    def __init__(self, project: str | None = None, database: str | None = None, client: Any = None, *,
                 timeout_seconds: float = 5.0) -> None:
        self.project = getattr(client, "project", project)
        self.database = getattr(client, "_database", database)
        self.timeout_seconds = float(timeout_seconds)
        self._client = client
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FirestoreLockStore(project={self.project!r}, database={self.database!r})"

    def _where(self) -> str:
        emulator = os.environ.get("FIRESTORE_EMULATOR_HOST")
        where = f"project {self.project!r}, database {self.database or '(default)'!r}"
        return f"{where}, emulator {emulator}" if emulator else where

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    from google.cloud import firestore

                    options = {k: v for k, v in (("project", self.project), ("database", self.database)) if v}
                    self._client = firestore.Client(**options)
                    self.project = self._client.project
                except Exception as error:  # credentials, project, import: permanent, fail closed
                    raise LockBackendUnavailableError(
                        f"cannot create a Firestore client for {self._where()}: {type(error).__name__}: {error}") from error
            return self._client

    def _call(self, what: str, call: Callable[..., T]) -> T:
        """One Firestore call under the deadline, its errors mapped to Conflict / unavailable."""
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        retry = gretry.Retry(predicate=gretry.if_exception_type(gexc.ServiceUnavailable, gexc.InternalServerError),
                             initial=0.1, maximum=1.0, multiplier=2.0, timeout=self.timeout_seconds)
        try:
            return call(retry=retry, timeout=self.timeout_seconds)
        except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Aborted) as error:
            raise Conflict(str(error)) from error
        except LockBackendUnavailableError:
            raise
        except Exception as error:
            cause = getattr(error, "cause", None) or error
            transient = isinstance(cause, (gexc.RetryError, gexc.DeadlineExceeded, gexc.ServiceUnavailable,
                                           gexc.InternalServerError, gexc.ResourceExhausted))
            raise LockBackendUnavailableError(
                f"Firestore {'did not answer' if transient else 'refused'} ({self._where()}): {what} "
                f"(deadline {self.timeout_seconds:g} s): {type(cause).__name__}: {cause}", transient=transient) from error

    def _ref(self, lock_type: str, date: str) -> Any:
        return self.client.collection(collection_name(lock_type)).document(lock_key(lock_type, date))

    @staticmethod
    def _record(snapshot: Any) -> LockRecord:
        d = snapshot.to_dict() or {}
        times = {k: utc(d.get(k)) for k in ("acquired_at", "expires_at", "ttl_expire_at", "renewed_at", "released_at")}
        return LockRecord(
            lock_type=d.get("lock_type", ""), game_date=d.get("game_date", ""),
            lock_key=d.get("lock_key", snapshot.id), holder_id=d.get("holder_id"),
            operation_id=d.get("operation_id"), fencing_token=int(d.get("fencing_token") or 0),
            lease_seconds=d.get("lease_seconds"), renewal_count=int(d.get("renewal_count") or 0),
            released_by=d.get("released_by"), release_reason=d.get("release_reason"),
            took_over_from=d.get("took_over_from"), last_holder_id=d.get("last_holder_id"),
            last_operation_id=d.get("last_operation_id"), version=snapshot.update_time, **times,
        )

    def _read(self, lock_type: str, dates: Sequence[str]) -> tuple[dict[str, LockRecord], dt.datetime]:
        client = self.client
        refs = [self._ref(lock_type, d) for d in dates] or [client.collection("_partition_lock_clock").document("now")]
        snapshots = self._call(f"read of {len(refs)} lock document(s)", lambda **kw: list(client.get_all(refs, **kw)))
        if len(snapshots) != len(refs):
            raise LockBackendUnavailableError(f"Firestore ({self._where()}) answered {len(snapshots)} of {len(refs)} reads",
                                              transient=True)
        now = min(utc(s.read_time) for s in snapshots)  # type: ignore[type-var]
        found = {}
        for snapshot in snapshots:
            if snapshot.exists:
                record = self._record(snapshot)
                # Documents of the old system may lack game_date / lock_type.
                date = record.game_date or record.lock_key[len(lock_type) + 1:]
                found[date] = replace(record, lock_type=lock_type, game_date=date)
        return found, now

    def _write(self, changes: Sequence[tuple[LockRecord, bool]]) -> list[Any]:
        client = self.client
        batch = client.batch()
        for record, exists in changes:
            ref = self._ref(record.lock_type, record.game_date)
            if exists:
                batch.update(ref, record.as_dict(), option=client.write_option(last_update_time=record.version))
            else:
                batch.create(ref, record.as_dict())
        results = self._call(f"conditional write of {len(changes)} lock document(s)", lambda **kw: list(batch.commit(**kw)))
        return [result.update_time for result in results]

    def records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        client = self.client
        if lock_type is not None:
            collections = [client.collection(collection_name(lock_type))]
        else:
            listed = self._call("listing of collections", lambda **kw: list(client.collections(**kw)))
            collections = [c for c in listed if c.id.endswith(LOCK_COLLECTION_SUFFIX)]
        found = [self._record(s) for c in collections
                 for s in self._call(f"listing of {c.id}", lambda c=c, **kw: list(c.stream(**kw))) if s.exists]
        return sorted(found, key=lambda r: (r.lock_type, r.game_date)), self._read("clock", [])[1]

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing is best effort
                pass
