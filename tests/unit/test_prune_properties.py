"""Prune's safety promises over random histories, on the in-memory store with a fake clock.

Whatever the stamps in the keys (past, future), the finish times, the mix of partial, unreadable
and still-uploading backups, the other sets beside it and the policy: prune never deletes the
newest complete backup of a set it prunes, a backup of a set it was not asked to prune, the
backup the current run just made, or an archive whose manifest exists but does not decode; and
it never leaves a manifest without its archive.
"""

from __future__ import annotations

import json
from datetime import timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from backupnimbus.adapters.memory import FakeClock
from backupnimbus.domain.keys import MANIFEST_SUFFIX, archive_key, manifest_key
from backupnimbus.domain.list_backups import (
    COMPLETE,
    INCOMPLETE,
    PARTIAL,
    UNREADABLE,
    ListBackups,
    finished_order,
)
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.retention import RULES, RetentionPolicy
from backupnimbus.ports.compressor import GZIP
from tests.support.aged_store import NOW, PREFIX, AgedStore, manifest_bytes

TARGET = "orders"
SETS = (TARGET, "users", "orders-eu")
YEAR_S = 366 * 86400
KINDS = ("complete", "partial", "not json", "another key", "another set", "wrong type",
         "incomplete")  # fmt: skip


@attrs.frozen
class Entry:
    name: str
    stamp_s: int
    """The key's stamp, seconds from NOW: past or future."""
    kind: str
    finished_s: int
    """The manifest's finish time, seconds from NOW."""
    written_s: int
    """When the store says the archive was written, seconds from NOW (never later)."""


def _entries(names: st.SearchStrategy[str]) -> st.SearchStrategy[Entry]:
    return st.builds(
        Entry,
        name=names,
        stamp_s=st.integers(-3 * YEAR_S, 3 * YEAR_S),
        kind=st.sampled_from(KINDS),
        finished_s=st.integers(-3 * YEAR_S, 2 * 86400),
        # Around the 24 h grace, and far from it.
        written_s=st.one_of(st.integers(-48 * 3600, 0), st.integers(-3 * YEAR_S, 0)),
    )


_current = st.builds(
    Entry,
    name=st.just(TARGET),
    stamp_s=st.integers(-3 * YEAR_S, 3 * YEAR_S),
    kind=st.just("complete"),
    finished_s=st.integers(-3 * YEAR_S, 2 * 86400),
    written_s=st.just(0),
)

histories = (
    st.tuples(_current, st.lists(_entries(st.sampled_from(SETS)), max_size=25))
    .map(lambda pair: [pair[0], *pair[1]])
    .filter(lambda entries: len({(e.name, e.stamp_s) for e in entries}) == len(entries))
)

policies = st.builds(RetentionPolicy, **{rule: st.integers(0, 3) for rule in RULES}).filter(
    lambda policy: not policy.is_empty()
)


def _manifest_for(entry: Entry, key: str) -> bytes:
    finished = NOW + timedelta(seconds=entry.finished_s)
    started = finished - timedelta(minutes=5)
    if entry.kind in ("complete", "partial"):
        return manifest_bytes(
            key, entry.name, started, finished_at=finished, partial=entry.kind == "partial"
        )
    if entry.kind == "another key":
        return manifest_bytes(key + ".old", entry.name, started)
    if entry.kind == "another set":
        return manifest_bytes(key, "other", started)
    if entry.kind == "wrong type":
        document = json.loads(manifest_bytes(key, entry.name, started))
        return json.dumps({**document, "finished_at": 5}).encode()
    assert entry.kind == "not json"
    return b"\x00garbage"


def _store(history: list[Entry]) -> tuple[AgedStore, list[str]]:
    store = AgedStore()
    keys = []
    for entry in history:
        at = NOW + timedelta(seconds=entry.stamp_s)
        key = archive_key(prefix=PREFIX, name=entry.name, at=at, compression=GZIP)
        keys.append(key)
        store.objects[key] = b"archive"
        store.written_at[key] = NOW + timedelta(seconds=entry.written_s)
        if entry.kind == "incomplete":
            continue
        manifest = _manifest_for(entry, key)
        store.objects[manifest_key(key)] = manifest
        store.written_at[manifest_key(key)] = store.written_at[key]
    return store, keys


@settings(max_examples=300, deadline=None)
@given(history=histories, policy=policies, all_sets=st.booleans(), dry_run=st.booleans())
def test_prune_never_deletes_what_it_must_keep(
    history: list[Entry], policy: RetentionPolicy, all_sets: bool, dry_run: bool
) -> None:
    store, keys = _store(history)
    current = keys[0]
    before = dict(store.objects)
    records = ListBackups(store=store, prefix=PREFIX).run()
    assert len(records) == len(history)
    pruned_sets = set(SETS) if all_sets else {TARGET}
    newest = {
        name: max((r for r in records if r.name == name and r.complete), key=finished_order).key
        for name in pruned_sets
        if any(r.name == name and r.complete for r in records)
    }
    unreadable = {r.key for r in records if r.state == UNREADABLE}
    prune = PruneBackups(
        list_backups=ListBackups(store=store, prefix=PREFIX), store=store,
        clock=FakeClock(current=NOW),
    )  # fmt: skip

    result = prune.run(
        policy=policy, name=None if all_sets else TARGET, all_sets=all_sets, dry_run=dry_run,
        protect=(current,),
    )  # fmt: skip

    gone = set(before) - set(store.objects)
    assert TARGET in newest, "the current run's backup is complete"
    for key in [current, *newest.values(), *unreadable]:
        for stored in (key, manifest_key(key)):
            assert (stored in before) == (stored in store.objects), stored
            assert store.objects.get(stored) == before.get(stored)
    for record in records:
        if record.name not in pruned_sets:
            assert record.key not in gone
            assert record.manifest_key not in gone
    for stored in store.objects:
        if stored.endswith(MANIFEST_SUFFIX):
            assert stored.removesuffix(MANIFEST_SUFFIX) in store.objects, "manifest left alone"
    # What the result says went is exactly what went; a dry run removes nothing.
    reported = {k for gone in result.deleted for k in (gone.key, manifest_key(gone.key))}
    assert gone == (set() if dry_run else reported & set(before))
    states = {r.key: r.state for r in records}
    for deleted in result.deleted:
        assert states[deleted.key] in (COMPLETE, PARTIAL, INCOMPLETE)
        if states[deleted.key] == INCOMPLETE:
            assert NOW - store.written_at[deleted.key] > timedelta(hours=24)
    for kept in result.kept:
        if kept.state == PARTIAL and kept.reasons != ("protected",):
            partial = next(r for r in records if r.key == kept.key)
            newest_here = newest.get(partial.name)
            assert newest_here is None or finished_order(partial) > finished_order(
                next(r for r in records if r.key == newest_here)
            )
