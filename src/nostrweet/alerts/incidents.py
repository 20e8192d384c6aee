"""PURE: which incidents are open, from what the daemon observed in one round (SPEC §9).

Each round of the daemon's loop yields an :class:`Observation`: failures in a row per user, whether each
relay is connected, whether X last answered 401/403, the age of the oldest event waiting in the outbox,
and whether the daemon is stopping for another reason than a signal. :func:`step` compares it with the
:class:`TrackerState` of the round before and returns the new state and the :class:`Transition` list:
one ``open`` when an incident starts and one ``resolved`` when it ends, never more for the same incident.

Nothing here touches the clock, the network or the disk: ``now`` is part of the observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_USER_FAILURES = 5
DEFAULT_RELAY_DOWN_SECONDS = 600.0
DEFAULT_OUTBOX_AGE_SECONDS = 3600.0

IncidentKind = Literal["user", "relay", "x_auth", "outbox", "stopped"]
Change = Literal["open", "resolved"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a condition becomes an incident (``[alerts]`` in the config file)."""

    user_failures: int = DEFAULT_USER_FAILURES
    relay_down_seconds: float = DEFAULT_RELAY_DOWN_SECONDS
    outbox_age_seconds: float = DEFAULT_OUTBOX_AGE_SECONDS


@dataclass(frozen=True, slots=True)
class Observation:
    """What the daemon saw in one round."""

    now: float
    user_failures: Mapping[str, int] = field(default_factory=dict)
    relays_connected: Mapping[str, bool] = field(default_factory=dict)
    x_auth_error: str | None = None  # the last X answer was 401/403 (this text), None once X answers again
    outbox_oldest_age: float | None = None  # seconds the oldest pending event has waited; None: nothing waits
    stopping: str | None = None  # the daemon stops for this reason (not a signal)


@dataclass(frozen=True, slots=True)
class Incident:
    """One open incident: its kind, what it is about (a username, a relay URL or ""), since when."""

    kind: IncidentKind
    subject: str
    since: float
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        """What makes two incidents the same one."""
        return self.kind, self.subject


@dataclass(frozen=True, slots=True)
class Transition:
    """An incident opened or resolved: the message to send."""

    change: Change
    incident: Incident
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class TrackerState:
    """What :func:`step` remembers between rounds."""

    relay_down_since: Mapping[str, float] = field(default_factory=dict)
    open: Mapping[tuple[str, str], Incident] = field(default_factory=dict)


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s / 3600:.1f} h"


def _title(incident: Incident, change: Change) -> str:
    """A title that names the relay or the user."""
    subject = incident.subject
    if change == "open":
        titles = {
            "user": f"@{subject}: polls keep failing",
            "relay": f"relay {subject} is down",
            "x_auth": "X API refuses the bearer token",
            "outbox": "events wait in the outbox",
            "stopped": "daemon stopped",
        }
    else:
        titles = {
            "user": f"@{subject}: polls work again",
            "relay": f"relay {subject} is up again",
            "x_auth": "X API accepts the bearer token again",
            "outbox": "the outbox has caught up",
            "stopped": "daemon running again",
        }
    return f"nostrweet: {titles[incident.kind]}"


def _wanted(
    obs: Observation, thresholds: Thresholds, down_since: Mapping[str, float]
) -> dict[tuple[str, str], Incident]:
    """Every incident the observation calls for (with ``since`` = now; kept from the open one if any)."""
    now = obs.now
    found: list[Incident] = []
    failing = [(u, f) for u, f in obs.user_failures.items() if f >= thresholds.user_failures]
    for user, failures in sorted(failing):  # filtered first: this runs every round of the loop
        found.append(Incident("user", user, now, f"{failures} polls in a row failed"))
    for relay, since in sorted(down_since.items()):
        if now - since >= thresholds.relay_down_seconds:
            found.append(Incident("relay", relay, now, f"not connected for {_duration(now - since)}"))
    if obs.x_auth_error is not None:
        found.append(Incident("x_auth", "", now, obs.x_auth_error))
    age = obs.outbox_oldest_age
    if age is not None and age >= thresholds.outbox_age_seconds:
        found.append(Incident("outbox", "", now, f"the oldest pending event has waited {_duration(age)}"))
    if obs.stopping is not None:
        found.append(Incident("stopped", "", now, obs.stopping))
    return {i.key: i for i in found}


def _body(incident: Incident, change: Change, now: float) -> str:
    if change == "open":
        return incident.detail
    return f"resolved after {_duration(now - incident.since)} (was: {incident.detail})"


def step(
    state: TrackerState, obs: Observation, thresholds: Thresholds
) -> tuple[TrackerState, list[Transition]]:
    """The new state and the transitions (opened first, then resolved, each in a stable order).

    A relay's down time counts from the first round that saw it down (a relay never connected counts
    from the first round); a round that sees it connected ends it. A relay no longer observed is
    forgotten, and so is an incident about it (resolved). A ``stopped`` incident is never resolved:
    the process ends.
    """
    now = obs.now
    down_since = {
        url: state.relay_down_since.get(url, now) for url, up in obs.relays_connected.items() if not up
    }
    wanted = _wanted(obs, thresholds, down_since)
    transitions: list[Transition] = []
    still_open: dict[tuple[str, str], Incident] = {}
    for key, incident in wanted.items():
        before = state.open.get(key)
        if before is None:
            still_open[key] = incident
            transitions.append(
                Transition("open", incident, _title(incident, "open"), _body(incident, "open", now))
            )
        else:
            still_open[key] = before
    for key, incident in state.open.items():
        if key in wanted:
            continue
        if incident.kind == "stopped":
            still_open[key] = incident
            continue
        transitions.append(
            Transition("resolved", incident, _title(incident, "resolved"), _body(incident, "resolved", now))
        )
    return TrackerState(relay_down_since=down_since, open=still_open), transitions
