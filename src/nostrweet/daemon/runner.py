"""The daemon's loop: one asyncio event loop polling many users on the scheduler's policy (SPEC §5).

The per-user work sits behind the small :class:`~nostrweet.daemon.ports.Pipeline` protocol (``poll_user``, ``run_outbox``, and
two read-only views for the stats), so the loop can be driven in unit tests by a fake pipeline and a
:class:`~nostrweet.daemon.clock.ManualClock` (no real hours). The real pipeline is :mod:`nostrweet.daemon.pipeline`.

Concurrency: at most ``max_concurrent`` user polls run at once; the outbox runs beside them, one pass
at a time. A poll that raises puts its user into backoff; nothing one user does stops the others.

Shutdown: :meth:`Daemon.run` returns after ``stop`` is set. It launches no new work, gives what is in
flight ``grace`` seconds (on its clock) to finish, cancels the rest (every write is atomic, so a cancelled task leaves
no partial file) and logs a last stats record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from nostrweet.daemon import scheduler
from nostrweet.daemon.clock import Clock, SystemClock
from nostrweet.daemon.control import Conflict, DaemonSnapshot, RecentError, UnknownUser, user_view
from nostrweet.daemon.pacing import Pacing
from nostrweet.daemon.ports import Coordination, LoopHook, LoopSettings, Pipeline, PollResult, Solo
from nostrweet.daemon.scheduler import UserSchedule
from nostrweet.daemon.stats import UserStats, build_stats_record, log_stats
from nostrweet.logs import context_with

log = logging.getLogger("nostrweet.daemon")

RECENT_ERRORS = 20  # failed polls the dashboard lists


class Daemon:
    """Polls every user on schedule through a :class:`Pipeline` until ``stop`` is set."""

    def __init__(
        self,
        pipeline: Pipeline,
        users: Sequence[str],
        settings: LoopSettings,
        *,
        clock: Clock | None = None,
        hooks: Sequence[LoopHook] = (),
        coordination: Coordination | None = None,
        paused: Sequence[str] = (),
        fixed: Sequence[str] | None = None,
        instance: str = "",
        tweet_count: Callable[[str | None], int] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.coordination: Coordination = coordination or Solo()
        self.mine: set[str] = set()  # the users this instance polls (its leases)
        self._rebalance_asked = False  # a user added or removed at run time: balance at the next round
        self.hooks = tuple(hooks)
        self.users = list(dict.fromkeys(users))
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.stats = {u: UserStats() for u in self.users}
        self.schedules: dict[str, UserSchedule] = {}
        self.started = self.clock.now()
        self.pacing = Pacing(pipeline.budgets, settings)
        self._wake = asyncio.Event()
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._outbox: asyncio.Task[None] | None = None
        # -- for the HTTP server (daemon/control.py) --
        self.paused: set[str] = set(paused) & set(self.users)
        self.fixed = set(self.users if fixed is None else fixed)
        self.instance = instance
        self.tweet_count = tweet_count
        self.last_success: dict[str, float] = {}
        self.recent_errors: deque[RecentError] = deque(maxlen=RECENT_ERRORS)
        self.last_round = self.started
        self._outbox_asked = False

    @property
    def effective_interval(self) -> float:
        """The poll interval per user now (the pacing's, from X's live budget)."""
        return self.pacing.interval

    def _update_effective_interval(self) -> None:
        self.pacing.update(self.clock.now(), len(self.users))

    # -- the loop ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully (see module docstring)."""
        self.started = now = self.clock.now()
        self._update_effective_interval()
        initial = scheduler.initial_schedules(len(self.users), now, self.effective_interval)
        self.schedules = dict(zip(self.users, initial, strict=True))
        await self._restore(now)
        self.mine = await self.coordination.balance(self.users, set(), now)
        renew_due = now + self.coordination.renew_every
        outbox_every = self.settings.outbox_interval or min(self.settings.poll_interval, 60.0)
        outbox_due = now  # at startup, then every cycle
        stats_due = now + self.settings.stats_interval
        stop_waiter = asyncio.ensure_future(self._relay_stop(stop))
        try:
            while not stop.is_set():
                now = self.clock.now()
                if now >= renew_due or self._rebalance_asked:
                    self._rebalance_asked = False
                    await self._balance(now)
                    now = self.clock.now()
                    renew_due = now + self.coordination.renew_every
                if (now >= outbox_due or self._outbox_asked) and self._outbox is None:
                    self._outbox_asked = False
                    self._outbox = asyncio.create_task(
                        self._run_outbox(), context=context_with(action="outbox")
                    )
                    outbox_due = now + outbox_every
                busy = set(self._polls) | self.paused
                allowed = self.pacing.polls_allowed(now, len(self._polls))
                held = False
                pollable = self._pollable()  # once a round: it walks every user's schedule
                for user in scheduler.due_users(pollable, now, busy):
                    if len(self._polls) >= self.settings.max_concurrent:
                        break
                    if allowed is not None:
                        if allowed <= 0:
                            held = True  # the budget is spent until the reset
                            break
                        allowed -= 1
                    self._polls[user] = asyncio.create_task(
                        self._poll(user), context=context_with(user=user, action="poll")
                    )
                if now >= stats_due:
                    self.log_stats()
                    stats_due = max(stats_due + self.settings.stats_interval, now + 1e-3)
                deadline = min(stats_due, renew_due, outbox_due if self._outbox is None else math.inf)
                if held:  # a finishing poll wakes us; else the reset does
                    _left, reset = self.pacing.timeline_budget()
                    if reset is not None and reset + scheduler.RESET_MARGIN > now:
                        deadline = min(deadline, reset + scheduler.RESET_MARGIN)
                elif len(self._polls) < self.settings.max_concurrent:
                    deadline = min(deadline, scheduler.next_wakeup(pollable, set(self._polls)))
                self.last_round = now
                self._run_hooks(lambda hook: hook.after_round(self))
                self._wake.clear()
                await self.clock.wait(self._wake, deadline)
        finally:
            stop_waiter.cancel()
            await self._shutdown()

    def _pollable(self) -> dict[str, UserSchedule]:
        """The schedules of the users this instance polls now: its own, not paused."""
        return {u: s for u, s in self.schedules.items() if u in self.mine and u not in self.paused}

    async def _restore(self, now: float) -> None:
        """Carry a saved backoff and pause across a restart (the spread of first polls stays)."""
        saved = await self.coordination.restore(self.users)
        for user, got in saved.items():
            if user not in self.schedules:
                continue
            if got.paused:
                self.paused.add(user)
            if got.failures > 0 and got.next_poll is not None:
                current = self.schedules[user]
                self.schedules[user] = dataclasses.replace(
                    current,
                    next_due=max(current.next_due, got.next_poll),
                    failures=got.failures,
                    backoff=got.backoff,
                )

    async def _balance(self, now: float) -> None:
        """Renew this instance's leases and take or hand back users (several instances)."""
        try:
            mine = await self.coordination.balance(self.users, set(self._polls), now)
        except Exception as exc:  # the database is away: poll nobody new until it is back
            log.warning("cannot renew the user leases: %s: %s", exc.__class__.__name__, exc)
            mine = set(self._polls)
        gained, lost = sorted(mine - self.mine), sorted(self.mine - mine)
        if gained or lost:
            log.info(
                "users: %d polled here (took %s; handed back %s)",
                len(mine),
                ", ".join(gained) or "none",
                ", ".join(lost) or "none",
            )
        self.mine = mine

    async def _save(self, user: str) -> None:
        schedule = self.schedules.get(user)
        if schedule is None:
            return
        try:
            await self.coordination.save(user, schedule)
        except Exception as exc:
            log.warning("@%s: schedule not saved: %s: %s", user, exc.__class__.__name__, exc)

    def _run_hooks(self, call: Callable[[LoopHook], None]) -> None:
        for hook in self.hooks:
            try:
                call(hook)
            except Exception as exc:
                log.warning("loop hook %s failed: %s", hook.__class__.__name__, exc)

    def _after_poll(self, user: str, error: BaseException | None) -> None:
        self._run_hooks(lambda hook: hook.after_poll(user, error))

    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _poll(self, user: str) -> None:
        stats = self.stats[user]
        began = self.clock.now()
        log.debug("@%s: poll starts", user, extra={"user": user, "action": "poll_start"})
        try:
            try:
                result: PollResult | None = await self.pipeline.poll_user(user)
                error: Exception | None = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result, error = None, exc
            now = self.clock.now()
            stats.last_duration = now - began
            if user not in self.schedules:  # removed while it was polled
                return
            stats.polls += 1
            stats.last_poll = now
            if result is not None:
                self._note_success(user, stats, result, now)
            elif error is not None:
                self._note_failure(user, stats, error, now)
            self._after_poll(user, error)
            await self._save(user)
        finally:
            log.debug("@%s: poll ends", user, extra={"user": user, "action": "poll_end"})
            self._polls.pop(user, None)
            self._wake.set()

    def _note_success(self, user: str, stats: UserStats, result: PollResult, now: float) -> None:
        self.last_success[user] = now
        self._update_effective_interval()
        self.schedules[user] = scheduler.after_success(
            self.schedules[user], now, result.new_tweets, self.effective_interval
        )
        stats.new_tweets += result.new_tweets
        stats.posted += result.posted
        if result.new_tweets or result.posted:
            log.info("@%s: %d new tweets, %d events posted", user, result.new_tweets, result.posted)

    def _note_failure(self, user: str, stats: UserStats, exc: Exception, now: float) -> None:
        state = self.schedules[user] = scheduler.after_failure(self.schedules[user], now)
        stats.errors += 1
        stats.last_error = f"{exc.__class__.__name__}: {exc}"
        self.recent_errors.append(RecentError(now, user, stats.last_error))
        log.warning(
            "@%s: poll failed (%s); retry in %.0f s (failure %d)",
            user,
            stats.last_error,
            state.backoff,
            state.failures,
            extra={"retry_count": state.failures},
        )

    async def _run_outbox(self) -> None:
        try:
            await self.pipeline.run_outbox()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox pass failed: %s: %s", exc.__class__.__name__, exc)
        finally:
            self._outbox = None
            self._wake.set()

    async def _shutdown(self) -> None:
        tasks: list[asyncio.Task[None]] = list(self._polls.values())
        if self._outbox is not None:
            tasks.append(self._outbox)
        if tasks:
            log.info(
                "stopping: %d task(s) in flight get up to %.0f s to finish", len(tasks), self.settings.grace
            )
            pending = await self._finish_within(tasks, self.settings.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
                log.warning("stopped %d unfinished task(s); they resume at the next start", len(pending))
        try:
            await self.coordination.release()
        except Exception as exc:
            log.warning("user leases not handed back (they expire): %s: %s", exc.__class__.__name__, exc)
        self.log_stats()
        log.info("daemon stopped")

    async def _finish_within(self, tasks: list[asyncio.Task[None]], grace: float) -> list[asyncio.Task[None]]:
        """Wait on the loop's clock until every task is done or ``grace`` seconds pass; the unfinished."""
        all_done = asyncio.Event()

        def check(_task: asyncio.Task[None]) -> None:
            if all(task.done() for task in tasks):
                all_done.set()

        for task in tasks:
            task.add_done_callback(check)
        await self.clock.wait(all_done, self.clock.now() + grace)
        return [task for task in tasks if not task.done()]

    # -- stats ---------------------------------------------------------------------------------
    def stats_record(self) -> dict[str, Any]:
        """The current summary record."""
        return build_stats_record(
            now=self.clock.now(),
            started=self.started,
            users=self.stats,
            backoff={u: s.backoff for u, s in self.schedules.items()},
            next_poll={u: s.next_due for u, s in self.schedules.items()},
            budgets=self.pipeline.budgets(),
            relays=self.pipeline.relay_status(),
            effective_interval=self.effective_interval,
            poll_interval=self.settings.poll_interval,
        )

    def log_stats(self) -> None:
        """Log one stats record."""
        log_stats(self.stats_record())

    # -- control: what the HTTP server asks (daemon/control.py) -------------------------------
    def add_user(self, username: str, backfill: int | None = None) -> None:
        """Watch one more user; its first poll is due at once."""
        if username in self.stats:
            raise Conflict(f"@{username} is already watched")
        self.users.append(username)
        self.stats[username] = UserStats()
        self.schedules[username] = UserSchedule(next_due=self.clock.now(), last_activity=self.clock.now())
        self._rebalance_asked = True  # its lease (or, alone, simply the user) is taken at the next round
        self._wake.set()

    def remove_user(self, username: str) -> None:
        """Stop watching a user; a poll of it in flight finishes, and is not counted."""
        if username not in self.stats:
            raise UnknownUser(f"@{username} is not watched")
        self.users.remove(username)
        for table in (self.stats, self.schedules, self.last_success):
            table.pop(username, None)
        self.paused.discard(username)
        self.mine.discard(username)
        self._rebalance_asked = True
        self._wake.set()

    def pause(self, username: str) -> None:
        """Start no poll of the user until it is resumed."""
        if username not in self.stats:
            raise UnknownUser(f"@{username} is not watched")
        self.paused.add(username)

    def resume(self, username: str) -> None:
        """Poll a paused user again, at once."""
        if username not in self.stats:
            raise UnknownUser(f"@{username} is not watched")
        if username in self.paused:
            self.paused.discard(username)
            self.poll_now(username)

    def poll_now(self, username: str) -> None:
        """Make the user's poll due now (the budget gate still applies)."""
        if username not in self.stats:
            raise UnknownUser(f"@{username} is not watched")
        if username in self.paused:
            raise Conflict(f"@{username} is paused: resume it first")
        schedule = self.schedules.get(username)
        if schedule is not None:
            self.schedules[username] = dataclasses.replace(schedule, next_due=self.clock.now())
        self._wake.set()

    def outbox_now(self) -> None:
        """Start an outbox pass at the next round (at once, unless one is running)."""
        self._outbox_asked = True
        self._wake.set()

    def snapshot(self) -> DaemonSnapshot:
        """What the daemon knows now: users, relays, budgets, recent errors."""
        count = self.tweet_count
        users = {
            name: user_view(
                self.stats[name],
                self.schedules.get(name),
                last_success=self.last_success.get(name),
                paused=name in self.paused,
                fixed=name in self.fixed,
                tweets_cached=count(name) if count is not None else 0,
            )
            for name in self.users
        }
        return DaemonSnapshot(
            now=self.clock.now(),
            started=self.started,
            instance=self.instance,
            poll_interval=self.settings.poll_interval,
            effective_interval=self.effective_interval,
            last_progress=self.last_round,
            users=users,
            relays=self.pipeline.relay_status(),
            budgets=self.pipeline.budgets(),
            recent_errors=tuple(self.recent_errors),
            tweets_cached=count(None) if count is not None else 0,
            leases_held=len(self.mine - self.paused),  # the users this instance polls (its leases)
        )
