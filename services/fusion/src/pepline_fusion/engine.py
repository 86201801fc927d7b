"""Fusion without I/O: location events in, policy-applied view events out.

:class:`FusionEngine` holds every user's :class:`~pepline_fusion.state.UserState`. Feed it
location events (:meth:`FusionEngine.observe`) and call :meth:`FusionEngine.tick`
periodically (staleness, dwell and quiet hours change the answer without any new event);
both return the events to put on the publish topic. Time comes from the injected clock.

Per view, an output is produced only when what the audience should see changes: the same
grid cell or label is not republished, and a view that never published anything is not
cleared. Quiet hours: ``freeze`` produces nothing (the last item stays); ``clear`` clears
each view once, then nothing; when they end, the current location is published again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from pepline_fusion.clock import Clock, system_clock
from pepline_fusion.merge import Fused, fuse
from pepline_fusion.privacy import present
from pepline_fusion.readings import LOCATION_KINDS, NotALocation, clear_targets, reading_of
from pepline_fusion.select import Ranking, Selection, decide, rank
from pepline_fusion.state import CLEARED, UserState
from pepline_fusion.views import view_event
from pepline_shared.events import Clear, Event
from pepline_shared.logging import get_logger
from pepline_shared.policy import PolicyBook, QuietAction, UserPolicy

__all__ = ["FusionEngine"]

log = get_logger("pepline.fusion")

#: A reading this old is dropped from the state (it stopped counting long ago).
READING_TTL: Final = timedelta(days=1)
#: How often quiet hours are re-checked for users that have them.
QUIET_CHECK: Final = timedelta(seconds=30)
_EPSILON: Final = timedelta(milliseconds=1)
_ALWAYS: Final = datetime.min.replace(tzinfo=UTC)


class FusionEngine:
    def __init__(self, policies: PolicyBook, clock: Clock = system_clock) -> None:
        self.policies = policies
        self.clock = clock
        self.states: dict[str, UserState] = {}
        self.dirty: set[str] = set()
        self.switch_count = 0
        self._due: dict[str, datetime] = {}

    # ---- inputs ---------------------------------------------------------------------------

    def observe(self, event: Event) -> list[Event]:
        """Take a location event (raise :class:`NotALocation` for any other kind)."""
        if event.kind not in LOCATION_KINDS:
            raise NotALocation(event.kind.value)
        state = self.states.get(event.subject)
        if state is None:
            state = self.states[event.subject] = UserState(user=event.subject)
        if not self._apply(state, event):
            return []
        self.dirty.add(state.user)
        return self._evaluate(state, trigger=event.id)

    def tick(self) -> list[Event]:
        """Re-evaluate the users whose answer may have changed with time alone."""
        now = self.clock()
        due = [user for user, when in self._due.items() if when <= now]
        outputs: list[Event] = []
        for user in due:
            outputs += self._evaluate(self.states[user], trigger=f"tick:{now.isoformat()}")
        return outputs

    def restore(self, state: UserState) -> None:
        """Adopt a saved state (at start, or written by another instance); it is
        re-evaluated at the next tick (sources may have gone stale meanwhile)."""
        self.states[state.user] = state
        self._due[state.user] = _ALWAYS

    def forget(self, user: str) -> bool:
        """Drop everything about ``user``; whether there was anything."""
        self.dirty.discard(user)
        self._due.pop(user, None)
        return self.states.pop(user, None) is not None

    def take_dirty(self) -> list[UserState]:
        """The states changed since the last call (to be saved)."""
        states = [self.states[u] for u in sorted(self.dirty) if u in self.states]
        self.dirty.clear()
        return states

    def policy(self, user: str) -> UserPolicy:
        return self.policies.for_user(user)

    # ---- evaluation -----------------------------------------------------------------------

    @staticmethod
    def _apply(state: UserState, event: Event) -> bool:
        if isinstance(event.data, Clear):
            keys = [
                key
                for key in clear_targets(event, state.readings)
                if state.readings[key].time <= event.time
            ]
            for key in keys:
                del state.readings[key]
            return bool(keys)
        reading = reading_of(event)
        old = state.readings.get(reading.key)
        if old is not None and (old.time > reading.time or old.event_id == reading.event_id):
            return False  # out of order, or redelivered after a restart
        state.readings[reading.key] = reading
        return True

    def _evaluate(self, state: UserState, trigger: str) -> list[Event]:
        now = self.clock()
        policy = self.policy(state.user)
        old = [k for k, r in state.readings.items() if now - r.time > READING_TTL]
        for key in old:
            del state.readings[key]
        ranking = rank(state.readings, policy, now)
        selection, switch = decide(state.selection, ranking, policy.min_dwell, now)
        if old or selection != state.selection:
            self.dirty.add(state.user)
        state.selection = selection
        if switch is not None:
            state.record(switch)
            self.switch_count += 1
            log.info(
                "location_source_switch",
                user=state.user,
                from_source=switch.from_key,
                to_source=switch.to_key,
                reason=switch.reason,
            )
        fused = fuse(selection.current, ranking, policy)
        outputs = self._outputs(state, fused, policy, now, trigger)
        self._schedule(state.user, ranking, selection, policy, now)
        return outputs

    def _outputs(
        self, state: UserState, fused: Fused, policy: UserPolicy, now: datetime, trigger: str
    ) -> list[Event]:
        quiet = policy.in_quiet_hours(now)
        if quiet and policy.quiet_hours.location is QuietAction.FREEZE:
            return []
        outputs: list[Event] = []
        for view in policy.effective_views():
            data = None if quiet else present(fused, view, policy)
            payload = CLEARED if data is None else data.model_dump_json(exclude_none=True)
            last = state.published.get(view.name)
            if last == payload or (last is None and data is None):
                continue
            state.published[view.name] = payload
            self.dirty.add(state.user)
            outputs.append(view_event(state.user, view, data, time=now, trigger=trigger))
        return outputs

    def _schedule(
        self,
        user: str,
        ranking: Ranking,
        selection: Selection,
        policy: UserPolicy,
        now: datetime,
    ) -> None:
        times = [
            c.reading.time + timedelta(seconds=c.rule.stale_after) + _EPSILON
            for c in ranking.candidates
        ]
        if selection.pending_since is not None:
            times.append(selection.pending_since + timedelta(seconds=policy.min_dwell))
        if policy.quiet_hours.windows:
            times.append(now + QUIET_CHECK)
        if times:
            self._due[user] = min(times)
        else:
            self._due.pop(user, None)
