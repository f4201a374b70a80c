"""Scenario 2: SIGKILL a launched materialization at a random point of its run (every other kill
at a random point of its hold of the grading lock, so that takeovers are measured). The date must
then be the previous or the new version (whole, no duplicates), and the next run must succeed,
taking over the killed holder's lease once it runs out. The inputs change before every killed run,
so that the two versions differ."""

from __future__ import annotations

import random
import signal
import time

from grading_pipeline_tests.torture.common import (
    Budget, Row, Workspace, compare, epoch, lock_record, percentiles, same_version,
)

NAME = "2 SIGKILL"


def run(ws: Workspace, options, budget: Budget) -> list[Row]:
    date = ws.start
    lease = options.lease
    row = Row(NAME, f"sqlite, lease {lease:g} s, {options.kills} kills")
    database = ws.new_warehouse("s2")
    lock_path = ws.lock_file("s2")
    env = ws.env(database, lock_path, GRADING_LOCK_LEASE_SECONDS=str(lease),
                 GRADING_LOCK_MAX_WAIT_SECONDS="60", GRADING_LOCK_POLL_SECONDS="0.05")
    rng = random.Random(options.seed)
    version = 0
    first = ws.outcome(ws.launch("s2-baseline", env, date), timeout=120)
    row.count(first)
    if not first.ok:
        row.violate(f"the baseline run failed: {first.message}")
        return [row]
    duration = first.seconds
    baseline_lock = lock_record(lock_path, "grading", date) or {}
    acquired, released = epoch(baseline_lock.get("acquired_at")), epoch(baseline_lock.get("released_at"))
    hold = released - acquired if acquired and released and released > acquired else 0.5
    takeovers, kill_to_ok, delays = [], [], []
    left = {"previous": 0, "new": 0}
    held_at_kill = 0
    anywhere = [k for k in range(options.kills) if k % 2 == 0]  # the others: while the lock is held
    for k in range(options.kills):
        if k and not budget.allows(2 * duration + lease, f"{NAME} kill {k + 1}"):
            row.extra.append(f"cut by --seconds after {k} kill(s)")
            break
        previous = ws.clean(date, versions={date: version})
        version += 1
        ws.mutate(database, date)
        new = ws.clean(date, versions={date: version})
        victim = ws.launch("s2-victim", env, date)
        if k in anywhere:
            # Stratified: each of these kills lands at random in its own equal slice of the run
            # (start-up, lock, write alike).
            delay = duration * (anywhere.index(k) + rng.random()) / len(anywhere)
            time.sleep(max(0.0, delay - (time.time() - victim.started)))
        else:
            # At random within the victim's hold of the grading lock (its holder id names its pid),
            # as long as the baseline's hold lasted.
            mine = f":{victim.pid}:"
            victim.wait_until(lambda: mine in str((lock_record(lock_path, "grading", date) or {}).get("holder_id")),
                              timeout=3 * duration, poll=0.01)
            time.sleep(rng.uniform(0.0, hold))
            delay = time.time() - victim.started
        delays.append(delay)
        victim.killed_by_us = victim.returncode is None  # else it ended first: counted as it ended
        victim.kill_group(signal.SIGKILL)
        killed_at = time.time()
        row.count(ws.outcome(victim, timeout=30))
        before = lock_record(lock_path, "grading", date)
        successor = ws.launch("s2-next", env, date)  # starts while the date is checked
        state = ws.fingerprints(database)
        if same_version(state, new, [date]):
            left["new"] += 1
        elif same_version(state, previous, [date]):
            left["previous"] += 1
        else:
            problems = compare(state, new, [date])
            row.violate(f"kill {k + 1} (after {delay:.2f} s): the date is neither the previous nor the new "
                        f"version: {problems}")
        duplicates = ws.duplicates(database)
        if duplicates:
            row.violate(f"kill {k + 1}: duplicate keys {duplicates} after the kill")
        outcome = ws.outcome(successor, timeout=120)
        row.count(outcome)
        if not outcome.ok:
            row.violate(f"kill {k + 1}: the next run failed: {outcome.message} ({outcome.log})")
            continue
        kill_to_ok.append(successor.ended - killed_at)
        after = lock_record(lock_path, "grading", date)
        if after and after.get("took_over_from"):
            held_at_kill += 1
            acquired = epoch(after.get("acquired_at"))
            if acquired:
                takeovers.append(acquired - killed_at)
        elif before and before.get("holder_id") and before.get("holder_id") != (after or {}).get("holder_id"):
            held_at_kill += 1  # the store does not say it was a takeover, but the victim held it
        problems = compare(ws.fingerprints(database), new, [date])
        for problem in problems:
            row.violate(f"kill {k + 1}: after the next run, not the new version: {problem}")
    row.duplicates = sum(ws.duplicates(database).values())
    row.unequal = len(compare(ws.fingerprints(database), ws.clean(date, versions={date: version}), [date]))
    row.extra += [
        f"takeover {percentiles(takeovers)} s p50/max (n={len(takeovers)}; victim held the lock {held_at_kill})",
        f"kill->next ok {percentiles(kill_to_ok)} s; after kill: previous {left['previous']}, new {left['new']}",
        f"kill delays {min(delays, default=0):.2f}..{max(delays, default=0):.2f} s of a {duration:.2f} s run "
        f"({len(anywhere)} anywhere, {options.kills - len(anywhere)} within the {hold:.2f} s lock hold)",
    ]
    return [row]
