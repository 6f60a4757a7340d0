"""Property tests: snapshots round-trip, and restore + replay equals one straight run.

``docs/matching.md``: "Restoring and replaying the rest of a command log gives the same events
and the same hash as one straight run." The command logs are the random ones of the
reference-model property test (every order type, stops, amends, cancels, halts).
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from engine_commands import Template, concretize_all, instruments, template_lists
from rialto.domain.commands import Command
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import Event
from rialto.domain.instruments import Instrument


def straight_run(instrument: Instrument, commands: list[Command]) -> tuple[MatchingEngine, list]:
    engine = MatchingEngine(instrument)
    return engine, [engine.apply(c) for c in commands]


def roundtrip(engine: MatchingEngine) -> MatchingEngine:
    """Restore ``engine``'s snapshot, checking that it reads back byte for byte."""
    snap = engine.snapshot()
    restored = MatchingEngine.restore(snap)
    assert restored.snapshot() == snap, "restore(s).snapshot() != s"
    assert restored.state_hash() == engine.state_hash() == hashlib.sha256(snap).hexdigest()
    assert restored.depth() == engine.depth()
    return restored


@settings(max_examples=300, deadline=None)
@given(instrument=instruments(), templates=template_lists(), data=st.data())
def test_restore_and_replay_equals_straight_run(
    instrument: Instrument, templates: list[Template], data: st.DataObject
) -> None:
    commands = concretize_all(instrument, templates)
    straight, straight_events = straight_run(instrument, commands)
    # One to three cut points; at each, the engine is replaced by restore(snapshot()).
    cuts = sorted(
        data.draw(st.sets(st.integers(0, len(commands)), min_size=1, max_size=3), label="cuts")
    )
    engine = MatchingEngine(instrument)
    events: list[list[Event]] = []
    for k, cmd in enumerate(commands):
        if k in cuts:
            engine = roundtrip(engine)
        events.append(engine.apply(cmd))
    if len(commands) in cuts:
        engine = roundtrip(engine)
    first = cuts[0]
    for k in range(first, len(commands)):
        assert events[k] == straight_events[k], (
            f"command {k + 1} after a restore at {cuts}: {commands[k]!r}\n"
            f" restored: {events[k]}\n straight: {straight_events[k]}"
        )
    assert engine.state_hash() == straight.state_hash()
    assert engine.snapshot() == straight.snapshot()


@settings(max_examples=100, deadline=None)
@given(instrument=instruments(), templates=template_lists())
def test_snapshot_roundtrips_after_every_command(
    instrument: Instrument, templates: list[Template]
) -> None:
    commands = concretize_all(instrument, templates)
    engine = MatchingEngine(instrument)
    twin = MatchingEngine(instrument)  # same log, fresh engine: same events, same hash
    roundtrip(engine)
    for cmd in commands:
        assert engine.apply(cmd) == twin.apply(cmd)
        restored = roundtrip(engine)
        assert MatchingEngine.restore(restored.snapshot()).snapshot() == engine.snapshot()
        assert engine.state_hash() == twin.state_hash()
