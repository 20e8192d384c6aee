"""PURE: the client side of one NIP-01 relay connection, sans I/O (in the manner of h11).

Frames in, typed messages out (:meth:`ClientProtocol.receive`); events, subscriptions and AUTH in,
frames out (:meth:`~ClientProtocol.send_event`, :meth:`~ClientProtocol.req`,
:meth:`~ClientProtocol.close`, :meth:`~ClientProtocol.auth`). Nothing here touches a socket, a clock
or a logger, so every relay message shape is tested as a table.

What it keeps per connection, each bounded by ``max_tracked`` (the oldest forgotten first):

- the EVENT (and AUTH) ids awaiting their OK, in send order, with their frames: an OK that carries
  no event id (``""``, null or no element; PyPI ``nostr-relay`` 1.14 answers rejected events so) is
  given the oldest waiting id, since a relay answers the messages of one connection in order. Such an
  :class:`Ok` says ``repaired``; the connection then moves to a fresh socket (that relay throttles a
  connection after a rejection) and sends :meth:`~ClientProtocol.resend_frames` on it;
- the open subscriptions, with their REQ frames.

Hostile input never raises: a frame too large, not JSON, of an unknown shape, an OK whose id is not
64 lower-case hex, an EVENT for no open subscription or with a bad id or signature each come back as
one :class:`ProtocolError` that names the problem; the connection goes on. An OK whose flag is not a
JSON boolean is read as a failed send with an ``error:`` message (retried later), never as accepted.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from nostrweet.nostr.answers import read_ok
from nostrweet.nostr.event import InvalidEventError, SignedEvent, verify_event

MAX_FRAME_BYTES = 1 << 20
"""The largest frame read from a relay (1 MiB; real events are a few KiB, relays cap them well below
this). The connection refuses a larger frame before reading its payload (close code 1009)."""

MAX_TRACKED = 1024
"""Per connection: EVENTs awaiting their OK and open subscriptions kept. Beyond it the oldest are
forgotten, so a connection that lives for months keeps a flat amount of memory."""


class Ok(msgspec.Struct, frozen=True, gc=False):
    """``["OK", id, accepted, message]``; ``repaired``: the relay sent no id, the oldest waiting was given."""

    event_id: str
    accepted: bool
    message: str
    repaired: bool = False


class Eose(msgspec.Struct, frozen=True, gc=False):
    """``["EOSE", subscription]``: the stored events of a subscription have all been sent."""

    subscription: str


class Closed(msgspec.Struct, frozen=True, gc=False):
    """``["CLOSED", subscription, message]``: the relay ended a subscription (e.g. ``auth-required:``)."""

    subscription: str
    message: str


class Auth(msgspec.Struct, frozen=True, gc=False):
    """``["AUTH", challenge]``: the relay's NIP-42 challenge for this connection."""

    challenge: str


class Notice(msgspec.Struct, frozen=True, gc=False):
    """``["NOTICE", message]``: a human-readable message from the relay."""

    message: str


class Event(msgspec.Struct, frozen=True, gc=False):
    """``["EVENT", subscription, event]`` for an open subscription, its id and signature checked."""

    subscription: str
    event: SignedEvent


class ProtocolError(msgspec.Struct, frozen=True, gc=False):
    """A frame that could not be used; the reason is safe to log (it quotes at most a short prefix)."""

    reason: str


RelayMessage = Ok | Eose | Closed | Auth | Notice | Event | ProtocolError


def _short(text: str) -> str:
    return repr(text[:60]) + ("…" if len(text) > 60 else "")


class ClientProtocol:
    """The state of one client connection to a relay (see the module docstring)."""

    def __init__(self, *, max_frame_bytes: int = MAX_FRAME_BYTES, max_tracked: int = MAX_TRACKED) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_tracked = max(1, max_tracked)
        self._waiting: OrderedDict[str, str] = OrderedDict()  # event id → its frame, until its OK
        self._subscriptions: OrderedDict[str, str] = OrderedDict()  # subscription → its REQ frame

    # --- what we send ----------------------------------------------------------------------------

    def send_event(self, event: SignedEvent) -> str:
        """The ``["EVENT", event]`` frame; the event now awaits its OK."""
        return self._track(event.id, f'["EVENT",{event.to_json()}]')

    def auth(self, event: SignedEvent) -> str:
        """The NIP-42 ``["AUTH", event]`` frame of a signed kind 22242 event; it awaits its OK too."""
        return self._track(event.id, f'["AUTH",{event.to_json()}]')

    def req(self, subscription: str, filters: Sequence[Mapping[str, Any]]) -> str:
        """The ``["REQ", subscription, filter…]`` frame; the subscription is open until CLOSE/CLOSED."""
        frame = json.dumps(["REQ", subscription, *filters], separators=(",", ":"))
        self._subscriptions[subscription] = frame
        self._subscriptions.move_to_end(subscription)
        while len(self._subscriptions) > self.max_tracked:
            self._subscriptions.popitem(last=False)
        return frame

    def close(self, subscription: str) -> str:
        """The ``["CLOSE", subscription]`` frame; the subscription is forgotten."""
        self._subscriptions.pop(subscription, None)
        return json.dumps(["CLOSE", subscription], separators=(",", ":"))

    def forget(self, event_id: str) -> None:
        """Stop waiting for an event's OK (its sender gave up)."""
        self._waiting.pop(event_id, None)

    def waiting(self, event_id: str) -> bool:
        """Whether the event was sent and its OK has not come yet."""
        return event_id in self._waiting

    @property
    def open_subscriptions(self) -> list[str]:
        """The subscriptions still open, oldest first."""
        return list(self._subscriptions)

    def resend_frames(self) -> list[str]:
        """The frames to send again on a fresh socket: open REQs, then EVENTs still awaiting their OK
        (AUTH events are left out: a new socket brings a new challenge)."""
        events = [f for f in self._waiting.values() if not f.startswith('["AUTH"')]
        return [*self._subscriptions.values(), *events]

    def _track(self, event_id: str, frame: str) -> str:
        self._waiting[event_id] = frame
        self._waiting.move_to_end(event_id)
        while len(self._waiting) > self.max_tracked:  # the oldest never got its OK
            self._waiting.popitem(last=False)
        return frame

    # --- what the relay sends --------------------------------------------------------------------

    def receive(self, data: str | bytes) -> RelayMessage:
        """Read one frame from the relay."""
        size = len(data)
        if isinstance(data, str) and size * 4 > self.max_frame_bytes:  # else it cannot be over
            size = len(data.encode("utf-8", "surrogatepass"))
        if size > self.max_frame_bytes:
            return ProtocolError(f"frame of {size} bytes is over the limit of {self.max_frame_bytes}")
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                return ProtocolError("binary frame that is not UTF-8")
        try:
            msg = json.loads(data)
        except (ValueError, RecursionError):
            return ProtocolError(f"frame is not JSON: {_short(data)}")
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            return ProtocolError(f"frame is not a relay message: {_short(data)}")
        head = msg[0]
        if head == "OK":
            return self._ok(msg, data)
        if head == "EVENT":
            return self._event(msg)
        if head == "EOSE":
            sub = self._open_subscription(msg)
            return Eose(sub) if sub is not None else ProtocolError("EOSE for no open subscription")
        if head == "CLOSED":
            sub = self._open_subscription(msg)
            if sub is None:
                return ProtocolError("CLOSED for no open subscription")
            del self._subscriptions[sub]
            return Closed(sub, msg[2] if len(msg) > 2 and isinstance(msg[2], str) else "")
        if head == "AUTH":
            if len(msg) > 1 and isinstance(msg[1], str):
                return Auth(msg[1])
            return ProtocolError("AUTH without a challenge")
        if head == "NOTICE":
            return Notice(msg[1] if len(msg) > 1 and isinstance(msg[1], str) else "")
        return ProtocolError(f"unknown relay message {_short(head)}")

    def _ok(self, msg: list[Any], data: str) -> RelayMessage:
        ok = read_ok(msg)
        if ok is None:
            return ProtocolError(f"OK that names no event of ours: {_short(data)}")
        accepted, message = ok.answer()
        if ok.event_id is not None:
            self._waiting.pop(ok.event_id, None)
            return Ok(ok.event_id, accepted, message)
        if not self._waiting:
            return ProtocolError("OK without an event id while no event awaits one")
        oldest, _ = self._waiting.popitem(last=False)
        return Ok(oldest, accepted, message or "error: the relay answered without an event id", True)

    def _open_subscription(self, msg: list[Any]) -> str | None:
        sub = msg[1] if len(msg) > 1 else None
        return sub if isinstance(sub, str) and sub in self._subscriptions else None

    def _event(self, msg: list[Any]) -> RelayMessage:
        sub = self._open_subscription(msg)
        if sub is None:
            return ProtocolError("EVENT for no open subscription")
        raw = msg[2] if len(msg) > 2 else None
        if not isinstance(raw, dict):
            return ProtocolError("EVENT without an event object")
        try:
            event = SignedEvent.from_dict(raw)
        except (InvalidEventError, TypeError, ValueError) as exc:
            return ProtocolError(f"EVENT that does not parse: {exc}")
        if not verify_event(event):
            return ProtocolError(f"EVENT {event.id[:16]}… with a bad signature")
        return Event(sub, event)
