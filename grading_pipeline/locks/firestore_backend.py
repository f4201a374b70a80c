"""Firestore lock backend: compare-and-swap on single documents, no transactions.

Document ``{lock_type}_locks/{lock_type}_{game_date}`` (the old system's layout). Transitions:

* create, when the document does not exist: ``document.create()`` fails with ``AlreadyExists``
  if another process created it first;
* every other change (acquire a released/expired lock, renew, release, force-release):
  ``update(..., option=client.write_option(last_update_time=snapshot.update_time))`` fails with
  ``FailedPrecondition`` if anyone wrote the document since our read -- so a stale holder can never
  overwrite or release its successor's lock.

Batches of dates (``try_acquire_many`` / ``renew_many`` / ``release_many``): one ``get_all`` read
and one ``WriteBatch`` of the same creates / conditional updates. A batch commit is atomic (every
write or none), so one failed precondition fails the whole batch and nothing is half-held; the
caller re-reads and retries. Batched writes are not transactions (no document locks).

Read-then-write *transactions* are deliberately not used: on the emulator they stall under 8-way
contention (pessimistic locks, 2 s lock-wait), and the preconditions give the same atomicity.

Time: every expiry is computed from the *server's* clock -- the ``read_time`` of the snapshot the
compare-and-swap is based on (the write happens after it, so the lease is, if anything, a round
trip shorter than asked) -- and compared against the server's clock (a later snapshot's
``read_time``). ``acquired_at`` / ``renewed_at`` / ``released_at`` are ``SERVER_TIMESTAMP``s; the
returned record carries the write result's ``update_time``. No client clock is involved.

Every call has a bounded deadline (``timeout_seconds``, default 5 s, including retries of
UNAVAILABLE); an unreachable or failing Firestore raises :class:`LockBackendUnavailableError`.

Production: enable the TTL policy on ``ttl_expire_at`` for each lock collection (one per lock
type: ``grading_locks``, ``daily_performance_locks``, ...)::

    gcloud firestore fields ttls update ttl_expire_at --collection-group=grading_locks \\
        --enable-ttl --project=PROJECT [--database=DATABASE]

Documents are then deleted (within about a day) once ``ttl_expire_at`` -- ``expires_at`` + 7 days,
pushed on every renewal -- has passed: released locks and the locks of crashed runs alike.

(the emulator does not implement TTL). See :mod:`.lease` for why a TTL deletion cannot make
fencing tokens go backwards.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any, Callable, Sequence, TypeVar

from .lease import (
    TTL_DELAY,
    AcquireAttempt,
    BatchAcquireAttempt,
    LockBackend,
    LockBackendUnavailableError,
    LockLostError,
    LockRecord,
    check_renewable,
    collection_name,
    initial_fencing_token,
    lock_key,
    normalize_game_date,
    utc,
    validate_lock_type,
)

__all__ = ["FirestoreLockBackend", "LOCK_COLLECTION_SUFFIX"]

LOCK_COLLECTION_SUFFIX = "_locks"
_CAS_ATTEMPTS = 8
T = TypeVar("T")


class _Conflict(Exception):
    """A compare-and-swap lost (AlreadyExists / FailedPrecondition / Aborted): re-read and retry."""


class FirestoreLockBackend(LockBackend):
    """Lock records in Firestore (or its emulator, via ``FIRESTORE_EMULATOR_HOST``).

    ``project``: Google Cloud project id (None: from the environment / credentials).
    ``database``: Firestore database id (None: ``(default)``).
    ``client``: an existing ``google.cloud.firestore.Client`` (then project/database are ignored).
    ``timeout_seconds``: deadline of each Firestore call, retries included.
    """

    name = "firestore"

    def __init__(
        self,
        project: str | None = None,
        database: str | None = None,
        client: Any = None,
        *,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.project = project if client is None else getattr(client, "project", project)
        self.database = database if client is None else getattr(client, "_database", database)
        self.timeout_seconds = float(timeout_seconds)
        self._client = client
        self._client_lock = threading.Lock()
        self._retry: Any = None

    def __repr__(self) -> str:
        return f"FirestoreLockBackend(project={self.project!r}, database={self.database!r})"

    def _where(self) -> str:
        target = os.environ.get("FIRESTORE_EMULATOR_HOST")
        where = f"project {self.project!r}, database {self.database or '(default)'!r}"
        return f"{where}, emulator {target}" if target else where

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    from google.cloud import firestore

                    kwargs: dict[str, Any] = {}
                    if self.project:
                        kwargs["project"] = self.project
                    if self.database:
                        kwargs["database"] = self.database
                    self._client = firestore.Client(**kwargs)
                    self.project = self._client.project
                except Exception as exc:  # credentials, project, import: all fail closed
                    raise LockBackendUnavailableError(
                        f"cannot create a Firestore client for {self._where()}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            return self._client

    def _retry_policy(self) -> Any:
        if self._retry is None:
            from google.api_core import exceptions as gexc
            from google.api_core import retry as gretry

            self._retry = gretry.Retry(
                predicate=gretry.if_exception_type(
                    gexc.ServiceUnavailable, gexc.InternalServerError, gexc.ResourceExhausted
                ),
                initial=0.1,
                maximum=1.0,
                multiplier=2.0,
                timeout=self.timeout_seconds,
            )
        return self._retry

    def _call(self, what: str, fn: Callable[..., T]) -> T:
        """Run one Firestore call with the bounded retry/timeout; map errors."""
        from google.api_core import exceptions as gexc

        try:
            return fn(retry=self._retry_policy(), timeout=self.timeout_seconds)
        except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Aborted) as exc:
            raise _Conflict(str(exc)) from exc
        except gexc.RetryError as exc:
            cause = exc.cause if exc.cause is not None else exc
            raise LockBackendUnavailableError(
                f"Firestore unreachable ({self._where()}): {what} gave up after "
                f"{self.timeout_seconds:g} s: {type(cause).__name__}: {cause}"
            ) from exc
        except gexc.DeadlineExceeded as exc:
            raise LockBackendUnavailableError(
                f"Firestore did not answer ({self._where()}): {what} exceeded its "
                f"{self.timeout_seconds:g} s deadline"
            ) from exc
        except gexc.GoogleAPICallError as exc:
            raise LockBackendUnavailableError(
                f"Firestore error ({self._where()}) during {what}: {type(exc).__name__}: {exc}"
            ) from exc
        except LockBackendUnavailableError:
            raise
        except Exception as exc:  # grpc / auth / transport errors: fail closed
            raise LockBackendUnavailableError(
                f"Firestore call failed ({self._where()}) during {what}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _ref(self, lock_type: str, game_date: str) -> Any:
        return self.client.collection(collection_name(lock_type)).document(
            lock_key(lock_type, game_date)
        )

    def _read(self, ref: Any) -> Any:
        return self._call(f"read of {ref.path}", lambda **kw: ref.get(**kw))

    def _cas_update(self, ref: Any, data: dict[str, Any], update_time: Any) -> Any:
        option = self.client.write_option(last_update_time=update_time)
        return self._call(
            f"conditional update of {ref.path}", lambda **kw: ref.update(data, option=option, **kw)
        )

    def _server_now(self) -> dt.datetime:
        """The server's clock: the read time of a (missing) document."""
        ref = self.client.collection("_partition_lock_clock").document("now")
        now = utc(self._read(ref).read_time)
        assert now is not None
        return now

    @staticmethod
    def _record(snapshot: Any) -> LockRecord | None:
        if not snapshot.exists:
            return None
        d = snapshot.to_dict() or {}
        return LockRecord(
            lock_type=d.get("lock_type", ""),
            game_date=d.get("game_date", ""),
            lock_key=d.get("lock_key", snapshot.id),
            holder_id=d.get("holder_id"),
            operation_id=d.get("operation_id"),
            fencing_token=int(d.get("fencing_token") or 0),
            acquired_at=utc(d.get("acquired_at")),
            expires_at=utc(d.get("expires_at")),
            ttl_expire_at=utc(d.get("ttl_expire_at")),
            lease_seconds=d.get("lease_seconds"),
            renewed_at=utc(d.get("renewed_at")),
            renewal_count=int(d.get("renewal_count") or 0),
            released_at=utc(d.get("released_at")),
            released_by=d.get("released_by"),
            release_reason=d.get("release_reason"),
            took_over_from=d.get("took_over_from"),
            last_holder_id=d.get("last_holder_id"),
            last_operation_id=d.get("last_operation_id"),
            version=snapshot.update_time,
        )

    @staticmethod
    def _acquire_data(
        lock_type: str,
        game_date: str,
        holder_id: str,
        operation_id: str,
        lease_seconds: float,
        current: LockRecord | None,
        now: dt.datetime,
    ) -> tuple[dict[str, Any], LockRecord | None]:
        """The document of a new acquisition over ``current`` (None: no document), with its
        fencing token; and the expired holder it takes over (None if free or already ours)."""
        from google.cloud import firestore

        # Our own earlier write may have landed although its answer was lost (a retried
        # create / update / batch commit): then the lock is ours already; rewrite it.
        ours = current is not None and current.holder_id == holder_id
        expires = now + dt.timedelta(seconds=lease_seconds)
        took_over = (
            current if current is not None and current.holder_id is not None and not ours else None
        )
        data: dict[str, Any] = {
            "lock_type": lock_type,
            "game_date": game_date,
            "lock_key": lock_key(lock_type, game_date),
            "holder_id": holder_id,
            "operation_id": operation_id,
            "acquired_at": firestore.SERVER_TIMESTAMP,
            "expires_at": expires,
            "ttl_expire_at": expires + TTL_DELAY,
            "lease_seconds": float(lease_seconds),
            "renewed_at": None,
            "renewal_count": 0,
            "released_at": None,
            "released_by": None,
            "release_reason": None,
            "took_over_from": took_over.holder_id if took_over else None,
            "last_holder_id": (current.holder_id or current.last_holder_id) if current else None,
            "last_operation_id": (
                (current.operation_id or current.last_operation_id) if current else None
            ),
        }
        # A document without a token (written by the old system) is seeded like a new one, so
        # tokens never restart low.
        data["fencing_token"] = (
            current.fencing_token + 1 if current is not None and current.fencing_token > 0
            else initial_fencing_token(now)
        )
        return data, took_over

    def _read_many(self, refs: list[Any]) -> tuple[dict[str, Any], dt.datetime]:
        """One ``get_all`` round trip: snapshots by document id, and the server time of the read
        (the earliest read time, should they differ)."""
        client = self.client
        snaps = self._call(
            f"read of {len(refs)} lock documents",
            lambda **kw: list(client.get_all(refs, **kw)),
        )
        by_id = {snap.id: snap for snap in snaps}
        missing = [ref.id for ref in refs if ref.id not in by_id]
        if missing:
            raise LockBackendUnavailableError(
                f"Firestore ({self._where()}) returned no snapshot for {missing}"
            )
        now = min(utc(snap.read_time) for snap in snaps)  # type: ignore[type-var]
        assert now is not None
        return by_id, now

    def _commit(self, what: str, batch: Any) -> list[Any]:
        """Commit a ``WriteBatch`` (atomic: every write or none); a failed precondition of any of
        its writes raises ``_Conflict``."""
        return self._call(what, lambda **kw: list(batch.commit(**kw)))

    # -- LockBackend ------------------------------------------------------------------------
    def try_acquire(
        self, lock_type: str, game_date: str, holder_id: str, operation_id: str, lease_seconds: float
    ) -> AcquireAttempt:
        validate_lock_type(lock_type)
        game_date = normalize_game_date(game_date)
        ref = self._ref(lock_type, game_date)
        current: LockRecord | None = None
        now: dt.datetime | None = None
        for _ in range(_CAS_ATTEMPTS):
            snap = self._read(ref)
            now = utc(snap.read_time)
            assert now is not None
            current = self._record(snap)
            # Our own earlier write may have landed although its answer was lost (a retried
            # create / update): then the lock is ours already; rewrite it with a fresh lease.
            ours = current is not None and current.holder_id == holder_id
            if current is not None and not ours and not current.is_free(now):
                return AcquireAttempt(acquired=False, record=current, server_now=now)
            data, took_over = self._acquire_data(
                lock_type, game_date, holder_id, operation_id, lease_seconds, current, now
            )
            try:
                if current is None:
                    result = self._call(
                        f"create of {ref.path}", lambda **kw: ref.create(data, **kw)
                    )
                else:
                    result = self._cas_update(ref, data, snap.update_time)
            except _Conflict:
                continue  # someone else wrote first (or our retried write landed): re-read
            written = utc(result.update_time)
            stored = {**data, "acquired_at": written}
            record = LockRecord(**stored, version=result.update_time)
            return AcquireAttempt(acquired=True, record=record, server_now=now, took_over=took_over)
        assert now is not None
        # Lost every race: report whoever holds it now (the caller will wait and retry).
        snap = self._read(ref)
        return AcquireAttempt(acquired=False, record=self._record(snap), server_now=utc(snap.read_time))  # type: ignore[arg-type]

    def renew(
        self, lock_type: str, game_date: str, holder_id: str, fencing_token: int, lease_seconds: float
    ) -> LockRecord:
        from google.cloud import firestore

        game_date = normalize_game_date(game_date)
        key = lock_key(lock_type, game_date)
        ref = self._ref(lock_type, game_date)
        for _ in range(_CAS_ATTEMPTS):
            snap = self._read(ref)
            now = utc(snap.read_time)
            assert now is not None
            current = self._record(snap)
            check_renewable(current, key, holder_id, fencing_token, now)
            assert current is not None
            expires = now + dt.timedelta(seconds=lease_seconds)
            data = {
                "expires_at": expires,
                "ttl_expire_at": expires + TTL_DELAY,
                "renewed_at": firestore.SERVER_TIMESTAMP,
                "renewal_count": current.renewal_count + 1,
                "lease_seconds": float(lease_seconds),
            }
            try:
                result = self._cas_update(ref, data, snap.update_time)
            except _Conflict:
                continue  # changed since our read: the re-read decides whether we still own it
            return LockRecord(
                **{**current.as_dict(), **data, "renewed_at": utc(result.update_time)},
                version=result.update_time,
            )
        raise LockBackendUnavailableError(
            f"renewal of {key} kept losing compare-and-swap races ({_CAS_ATTEMPTS} attempts)"
        )

    def release(
        self,
        lock_type: str,
        game_date: str,
        holder_id: str,
        fencing_token: int,
        version: Any = None,
        operation_id: str | None = None,
    ) -> bool:
        from google.cloud import firestore

        game_date = normalize_game_date(game_date)
        ref = self._ref(lock_type, game_date)
        data = {
            "holder_id": None,
            "operation_id": None,
            "released_at": firestore.SERVER_TIMESTAMP,
            "released_by": holder_id,
            "release_reason": "released",
            "last_holder_id": holder_id,
            "last_operation_id": operation_id,
        }
        update_time = version
        for _ in range(_CAS_ATTEMPTS):
            if update_time is None:
                snap = self._read(ref)
                current = self._record(snap)
                if current is None:
                    return False
                if current.holder_id != holder_id or current.fencing_token != fencing_token:
                    # Already released by us (a retried write that landed), or someone else's.
                    return (
                        current.holder_id is None
                        and current.released_by == holder_id
                        and current.fencing_token == fencing_token
                    )
                update_time = snap.update_time
                data["last_operation_id"] = current.operation_id
            try:
                # With the holder's own last update_time as precondition: nobody wrote since,
                # so the document still is ours -- one round trip in the common case.
                self._cas_update(ref, data, update_time)
                return True
            except _Conflict:
                update_time = None  # re-read and check the owner
        raise LockBackendUnavailableError(
            f"release of {ref.path} kept losing compare-and-swap races ({_CAS_ATTEMPTS} attempts)"
        )

    def try_acquire_many(
        self,
        lock_type: str,
        game_dates: Sequence[str],
        holder_id: str,
        operation_ids: Sequence[str],
        lease_seconds: float,
    ) -> BatchAcquireAttempt:
        """All or nothing: one ``get_all`` read, then -- unless a date is held by someone else --
        one atomic ``WriteBatch``: ``create()`` for absent documents and a conditional
        ``update()`` (``last_update_time`` of the read) for released / expired ones. If anyone
        wrote one of the documents meanwhile the whole batch fails and nothing is held: re-read and
        try again (up to a few times, then report "not acquired" and let the caller poll)."""
        validate_lock_type(lock_type)
        dates = [normalize_game_date(d) for d in game_dates]
        if len(operation_ids) != len(dates):
            raise ValueError("one operation_id per game_date")
        if not dates:
            return BatchAcquireAttempt(acquired=True, records=(), server_now=self._server_now())
        refs = [self._ref(lock_type, d) for d in dates]
        now: dt.datetime | None = None
        for _ in range(_CAS_ATTEMPTS):
            snaps, now = self._read_many(refs)
            current = [self._record(snaps[ref.id]) for ref in refs]
            blockers = tuple(
                c for c in current
                if c is not None and c.holder_id != holder_id and not c.is_free(now)
            )
            if blockers:
                return BatchAcquireAttempt(
                    acquired=False, records=(), server_now=now, blockers=blockers
                )
            batch = self.client.batch()
            planned: list[tuple[dict[str, Any], LockRecord | None]] = []
            for ref, game_date, operation_id, cur in zip(refs, dates, operation_ids, current):
                data, took_over = self._acquire_data(
                    lock_type, game_date, holder_id, operation_id, lease_seconds, cur, now
                )
                if cur is None:
                    batch.create(ref, data)
                else:
                    option = self.client.write_option(last_update_time=snaps[ref.id].update_time)
                    batch.update(ref, data, option=option)
                planned.append((data, took_over))
            try:
                results = self._commit(
                    f"batch acquisition of {len(refs)} {collection_name(lock_type)} documents",
                    batch,
                )
            except _Conflict:
                continue  # someone wrote one of them since our read: nothing was written
            records = tuple(
                LockRecord(**{**data, "acquired_at": utc(result.update_time)},
                           version=result.update_time)
                for (data, _), result in zip(planned, results)
            )
            return BatchAcquireAttempt(
                acquired=True, records=records, server_now=now,
                took_over=tuple(t for _, t in planned),
            )
        assert now is not None
        # Lost every race: report who holds what now (the caller waits and tries again).
        snaps, now = self._read_many(refs)
        live = (self._record(snaps[ref.id]) for ref in refs)
        return BatchAcquireAttempt(
            acquired=False, records=(), server_now=now,
            blockers=tuple(r for r in live if r is not None and not r.is_free(now)),
        )

    def renew_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int]],
        holder_id: str,
        lease_seconds: float,
    ) -> list[LockRecord | LockLostError]:
        """One ``get_all``, then one atomic batch of conditional updates of the dates still ours
        (a date that is not gets its :class:`LockLostError`); re-read and retry on a conflict."""
        from google.cloud import firestore

        validate_lock_type(lock_type)
        items = [(normalize_game_date(d), token) for d, token in leases]
        if not items:
            return []
        refs = [self._ref(lock_type, d) for d, _ in items]
        for _ in range(_CAS_ATTEMPTS):
            snaps, now = self._read_many(refs)
            outcomes: list[LockRecord | LockLostError | None] = []
            batch = self.client.batch()
            planned: list[tuple[int, LockRecord, dict[str, Any]]] = []
            expires = now + dt.timedelta(seconds=lease_seconds)
            for i, ((game_date, token), ref) in enumerate(zip(items, refs)):
                current = self._record(snaps[ref.id])
                try:
                    check_renewable(current, lock_key(lock_type, game_date), holder_id, token, now)
                except LockLostError as exc:
                    outcomes.append(exc)
                    continue
                assert current is not None
                data = {
                    "expires_at": expires,
                    "ttl_expire_at": expires + TTL_DELAY,
                    "renewed_at": firestore.SERVER_TIMESTAMP,
                    "renewal_count": current.renewal_count + 1,
                    "lease_seconds": float(lease_seconds),
                }
                batch.update(ref, data,
                             option=self.client.write_option(last_update_time=snaps[ref.id].update_time))
                planned.append((i, current, data))
                outcomes.append(None)
            if planned:
                try:
                    results = self._commit(
                        f"batch renewal of {len(planned)} {collection_name(lock_type)} documents",
                        batch,
                    )
                except _Conflict:
                    continue  # one changed since our read: the re-read decides who still owns it
                for (i, current, data), result in zip(planned, results):
                    outcomes[i] = LockRecord(
                        **{**current.as_dict(), **data, "renewed_at": utc(result.update_time)},
                        version=result.update_time,
                    )
            return [o for o in outcomes if o is not None]
        raise LockBackendUnavailableError(
            f"batch renewal of {len(items)} {collection_name(lock_type)} documents kept losing "
            f"compare-and-swap races ({_CAS_ATTEMPTS} attempts)"
        )

    def release_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int, Any, str | None]],
        holder_id: str,
    ) -> list[bool]:
        """One atomic batch of updates conditional on each lease's own last ``update_time``
        (one round trip when nobody touched them). If that fails (a date was taken over or
        force-released meanwhile), one ``get_all`` decides which dates are still ours and only
        those are released, again as one conditional batch."""
        from google.cloud import firestore

        validate_lock_type(lock_type)
        items = [(normalize_game_date(d), token, version, op) for d, token, version, op in leases]
        if not items:
            return []
        refs = [self._ref(lock_type, d) for d, _, _, _ in items]
        released: list[bool] = [False] * len(items)

        def data(operation_id: str | None) -> dict[str, Any]:
            return {
                "holder_id": None,
                "operation_id": None,
                "released_at": firestore.SERVER_TIMESTAMP,
                "released_by": holder_id,
                "release_reason": "released",
                "last_holder_id": holder_id,
                "last_operation_id": operation_id,
            }

        # (index, update_time precondition, last_operation_id) of the writes to make.
        todo = [(i, version, op) for i, (_, _, version, op) in enumerate(items)]
        if any(version is None for _, version, _ in todo):
            todo = []  # no compare-and-swap hint for some: read first
        what = f"batch release of {len(items)} {collection_name(lock_type)} documents"
        for attempt in range(_CAS_ATTEMPTS + 1):
            if attempt > 0 or not todo:
                snaps, _ = self._read_many(refs)
                todo = []
                for i, ((_, token, _, _), ref) in enumerate(zip(items, refs)):
                    current = self._record(snaps[ref.id])
                    if current is None:
                        released[i] = False
                    elif current.holder_id == holder_id and current.fencing_token == token:
                        todo.append((i, snaps[ref.id].update_time, current.operation_id))
                    else:
                        # Already released by us (a retried write that landed), or someone else's.
                        released[i] = (
                            current.holder_id is None and current.released_by == holder_id
                            and current.fencing_token == token
                        )
                if not todo:
                    return released
            batch = self.client.batch()
            for i, update_time, operation_id in todo:
                batch.update(refs[i], data(operation_id),
                             option=self.client.write_option(last_update_time=update_time))
            try:
                self._commit(what, batch)
            except _Conflict:
                continue  # re-read and check the owners
            for i, _, _ in todo:
                released[i] = True
            return released
        raise LockBackendUnavailableError(
            f"{what} kept losing compare-and-swap races ({_CAS_ATTEMPTS} attempts)"
        )

    def get(self, lock_type: str, game_date: str) -> tuple[LockRecord | None, dt.datetime]:
        snap = self._read(self._ref(lock_type, normalize_game_date(game_date)))
        now = utc(snap.read_time)
        assert now is not None
        return self._record(snap), now

    def list_records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        client = self.client
        if lock_type is not None:
            collections = [client.collection(collection_name(lock_type))]
        else:
            collections = [
                c
                for c in self._call("listing of collections", lambda **kw: list(client.collections(**kw)))
                if c.id.endswith(LOCK_COLLECTION_SUFFIX)
            ]
        records: list[LockRecord] = []
        for coll in collections:
            snaps = self._call(f"listing of {coll.id}", lambda **kw: list(coll.stream(**kw)))
            records.extend(r for r in (self._record(s) for s in snaps) if r is not None)
        records.sort(key=lambda r: (r.lock_type, r.game_date))
        return records, self._server_now()

    def force_release(self, lock_type: str, game_date: str, released_by: str) -> LockRecord | None:
        from google.cloud import firestore

        validate_lock_type(lock_type)
        ref = self._ref(lock_type, normalize_game_date(game_date))
        for _ in range(_CAS_ATTEMPTS):
            snap = self._read(ref)
            current = self._record(snap)
            if current is None or current.holder_id is None:
                return None
            data = {
                "holder_id": None,
                "operation_id": None,
                "released_at": firestore.SERVER_TIMESTAMP,
                "released_by": released_by,
                "release_reason": "force_released",
                "last_holder_id": current.holder_id,
                "last_operation_id": current.operation_id,
            }
            try:
                self._cas_update(ref, data, snap.update_time)
            except _Conflict:
                continue
            return current
        raise LockBackendUnavailableError(
            f"force-release of {ref.path} kept losing compare-and-swap races"
        )

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing is best effort
                pass
