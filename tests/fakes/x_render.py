"""Pure response building for the fake X API: lookups, timelines, expansions, field filtering, Problems."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from tests.fakes.x_world import Raw, World

PROBLEMS = "https://api.twitter.com/2/problems/"
NOT_FOUND_TYPE = PROBLEMS + "resource-not-found"
NOT_AUTHORIZED_TYPE = PROBLEMS + "not-authorized-for-resource"

DEFAULT_TWEET_FIELDS = {"id", "text", "edit_history_tweet_ids"}
DEFAULT_USER_FIELDS = {"id", "name", "username"}
DEFAULT_MEDIA_FIELDS = {"media_key", "type"}
DEFAULT_POLL_FIELDS = {"id", "options"}
DEFAULT_PLACE_FIELDS = {"id", "full_name"}


def problem_400(violations: list[str]) -> Raw:
    """The v2 invalid-request Problem for parameter violations."""
    return {
        "errors": [{"parameters": {}, "message": v} for v in violations],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


def not_found(path: str) -> Raw:
    """Body for a spec path that the fake does not serve."""
    return {
        "title": "Not Found",
        "detail": f"The fake X API does not serve {path}",
        "type": "about:blank",
        "status": 404,
    }


def resource_problem(kind: str, resource_type: str, parameter: str, value: str) -> Raw:
    """A partial-error Problem, shaped like the recorded ones (kind: not_found|protected|suspended;
    for suspended, ``value`` is the author's id, as in twarc-csv/entities_test.json)."""
    if kind == "suspended":
        return {
            "parameter": parameter,
            "resource_id": value,
            "value": value,
            "detail": f"User has been suspended: [{value}].",
            "title": "Forbidden",
            "resource_type": "user",
            "type": NOT_FOUND_TYPE,
        }
    if kind == "protected":
        return {
            "value": value,
            "detail": f"Sorry, you are not authorized to see the {resource_type.capitalize()} with "
            f"{parameter}: [{value}].",
            "title": "Authorization Error",
            "resource_type": resource_type,
            "parameter": parameter,
            "resource_id": value,
            "type": NOT_AUTHORIZED_TYPE,
        }
    return {
        "value": value,
        "detail": f"Could not find {resource_type} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": NOT_FOUND_TYPE,
    }


def encode_token(last_id: str) -> str:
    """Opaque next_token: base32 of the last id served (no padding)."""
    return base64.b32encode(f"after:{last_id}".encode()).decode().rstrip("=").lower()


def decode_token(token: str) -> str | None:
    """The id a next_token points after, or None if the token is not ours."""
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        text = base64.b32decode(padded).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith("after:") or not text[6:].isdigit():
        return None
    return text[6:]


def _split(value: str | None) -> set[str]:
    return {v for v in (value or "").split(",") if v}


class Renderer:
    """Builds one response body from the world for one request's query parameters."""

    def __init__(
        self,
        world: World,
        rewrite_url: Callable[[str], str],
        query: dict[str, str],
        *,
        filter_fields: bool = True,
    ) -> None:
        self.world = world
        self.rewrite = rewrite_url
        self.query = query
        self.filter = filter_fields
        self.expansions = _split(query.get("expansions"))
        self.tweet_fields = DEFAULT_TWEET_FIELDS | _split(query.get("tweet.fields"))
        self.user_fields = DEFAULT_USER_FIELDS | _split(query.get("user.fields"))
        self.media_fields = DEFAULT_MEDIA_FIELDS | _split(query.get("media.fields"))
        self.poll_fields = DEFAULT_POLL_FIELDS | _split(query.get("poll.fields"))
        self.place_fields = DEFAULT_PLACE_FIELDS | _split(query.get("place.fields"))
        self.errors: list[Raw] = []

    # -- object views ------------------------------------------------------------------------------
    def _pick(self, raw: Raw, fields: set[str]) -> Raw:
        return {k: v for k, v in raw.items() if k in fields} if self.filter else dict(raw)

    def tweet(self, raw: Raw) -> Raw:
        """A tweet as the API would send it for the asked tweet.fields."""
        return self._pick(raw, self.tweet_fields)

    def user(self, raw: Raw) -> Raw:
        """A user for the asked user.fields, media URLs rewritten."""
        out = self._pick(raw, self.user_fields)
        for key in ("profile_image_url", "profile_banner_url"):
            if isinstance(out.get(key), str):
                out[key] = self.rewrite(out[key])
        return out

    def media(self, raw: Raw) -> Raw:
        """A media object for the asked media.fields, every URL rewritten to the fake."""
        out = self._pick(raw, self.media_fields)
        for key in ("url", "preview_image_url"):
            if isinstance(out.get(key), str):
                out[key] = self.rewrite(out[key])
        if isinstance(out.get("variants"), list):
            out["variants"] = [
                {**v, "url": self.rewrite(v["url"])} if isinstance(v.get("url"), str) else dict(v)
                for v in out["variants"]
            ]
        return out

    # -- includes ----------------------------------------------------------------------------------
    def includes_for_tweets(self, primary: list[Raw]) -> Raw:
        """`includes` for these tweets according to the asked expansions (errors go to self.errors)."""
        exp = self.expansions
        tweets: dict[str, Raw] = {}
        users: dict[str, Raw] = {}
        media: dict[str, Raw] = {}
        polls: dict[str, Raw] = {}
        places: dict[str, Raw] = {}
        primary_ids = {t["id"] for t in primary}

        def add_tweet(tid: str, parameter: str, *, primary_too: bool = False) -> None:
            if tid in tweets or (tid in primary_ids and not primary_too):
                return
            state = self.world.tweet_state(tid)
            if state == "ok":
                tweets[tid] = self.world.tweets[tid]
            else:
                self.errors.append(resource_problem(state, "tweet", parameter, tid))

        def add_user(uid: str | None, parameter: str) -> None:
            if not uid or uid in users:
                return
            if uid in self.world.users:
                users[uid] = self.world.users[uid]
            else:
                self.errors.append(resource_problem("not_found", "user", parameter, uid))

        def add_username(name: str, parameter: str) -> None:
            found = self.world.user_by_username(name)
            if found is None:
                self.errors.append(resource_problem("not_found", "user", parameter, name))
            else:
                users.setdefault(found["id"], found)

        def add_media(keys: Iterable[str]) -> None:
            for key in keys:
                if key in self.world.media:
                    media.setdefault(key, self.world.media[key])

        for t in primary:
            if "author_id" in exp:
                add_user(t.get("author_id"), "author_id")
            if "in_reply_to_user_id" in exp:
                add_user(t.get("in_reply_to_user_id"), "in_reply_to_user_id")
            if "entities.mentions.username" in exp:
                for m in (t.get("entities") or {}).get("mentions", []):
                    add_username(m["username"], "entities.mentions.username")
            if "entities.note.mentions.username" in exp:
                note_entities = (t.get("note_tweet") or {}).get("entities") or {}
                for m in note_entities.get("mentions", []):
                    add_username(m["username"], "entities.note.mentions.username")
            if "referenced_tweets.id" in exp:
                for ref in t.get("referenced_tweets") or []:
                    add_tweet(ref["id"], "referenced_tweets.id")
            if "edit_history_tweet_ids" in exp:
                # the real API lists every version, the asked tweet itself included (cashtags.json)
                for eid in t.get("edit_history_tweet_ids") or []:
                    add_tweet(eid, "edit_history_tweet_ids", primary_too=True)
            attachments = t.get("attachments") or {}
            if "attachments.media_keys" in exp:
                add_media(attachments.get("media_keys", []))
            if "attachments.poll_ids" in exp:
                for pid in attachments.get("poll_ids", []):
                    if pid in self.world.polls:
                        polls.setdefault(pid, self.world.polls[pid])
            place_id = (t.get("geo") or {}).get("place_id")
            if "geo.place_id" in exp and place_id in self.world.places:
                places.setdefault(place_id, self.world.places[place_id])
        for ref in list(tweets.values()):
            if "referenced_tweets.id.author_id" in exp:
                add_user(ref.get("author_id"), "referenced_tweets.id.author_id")
            if "referenced_tweets.id.attachments.media_keys" in exp:
                add_media((ref.get("attachments") or {}).get("media_keys", []))
        out: Raw = {}
        if users:
            out["users"] = [self.user(u) for u in users.values()]
        if tweets:
            out["tweets"] = [self.tweet(t) for t in tweets.values()]
        if media:
            out["media"] = [self.media(m) for m in media.values()]
        if polls:
            out["polls"] = [self._pick(p, self.poll_fields) for p in polls.values()]
        if places:
            out["places"] = [self._pick(p, self.place_fields) for p in places.values()]
        return out

    def includes_for_users(self, users: list[Raw]) -> Raw:
        """`includes` for user lookups (expansion pinned_tweet_id)."""
        tweets: list[Raw] = []
        if "pinned_tweet_id" in self.expansions:
            for u in users:
                pid = u.get("pinned_tweet_id")
                if not pid:
                    continue
                state = self.world.tweet_state(pid)
                if state == "ok":
                    tweets.append(self.tweet(self.world.tweets[pid]))
                else:
                    self.errors.append(resource_problem(state, "tweet", "pinned_tweet_id", pid))
        return {"tweets": tweets} if tweets else {}

    # -- bodies ------------------------------------------------------------------------------------
    def _body(self, data: Any, includes: Raw, meta: Raw | None = None) -> Raw:
        body: Raw = {}
        if data is not None and data != []:
            body["data"] = data
        if includes:
            body["includes"] = includes
        if self.errors:
            body["errors"] = self.errors
        if meta is not None:
            body["meta"] = meta
        return body

    def tweets_body(self, ids: list[str], parameter: str, single: bool = False) -> Raw:
        """Body of GET /2/tweets/{id} (single) or GET /2/tweets?ids=."""
        found: list[Raw] = []
        for tid in ids:
            state = self.world.tweet_state(tid)
            if state == "ok":
                found.append(self.world.tweets[tid])
            elif state == "suspended":
                author = str(self.world.tweets[tid].get("author_id"))
                self.errors.append(resource_problem(state, "user", parameter, author))
            else:
                self.errors.append(resource_problem(state, "tweet", parameter, tid))
        lookup_errors = list(self.errors)
        self.errors = []
        includes = self.includes_for_tweets(found)
        self.errors = lookup_errors + self.errors
        data: Any = [self.tweet(t) for t in found]
        if single:
            data = data[0] if data else None
        return self._body(data, includes)

    def users_body(self, keys: list[str], parameter: str, single: bool = False) -> Raw:
        """Body of the user lookups; keys are ids or usernames depending on `parameter`."""
        found: list[Raw] = []
        for key in keys:
            user = (
                self.world.users.get(key) if parameter in ("id", "ids") else self.world.user_by_username(key)
            )
            if user is None:
                self.errors.append(resource_problem("not_found", "user", parameter, key))
            else:
                found.append(user)
        includes = self.includes_for_users(found)
        data: Any = [self.user(u) for u in found]
        if single:
            data = data[0] if data else None
        return self._body(data, includes)

    def timeline_body(self, user_id: str) -> tuple[int, Raw]:
        """Body of GET /2/users/{id}/tweets: one page, newest first, with meta."""
        if user_id not in self.world.users and not self.world.full_timeline(user_id):
            self.errors.append(resource_problem("not_found", "user", "id", user_id))
            return 200, self._body(None, {})
        if user_id in self.world.suspended:
            self.errors.append(resource_problem("suspended", "user", "id", user_id))
            return 200, self._body(None, {})
        q = self.query
        ids = self.world.timeline(user_id)
        since, until = q.get("since_id"), q.get("until_id")
        if since:
            ids = [i for i in ids if int(i) > int(since)]
        if until:
            ids = [i for i in ids if int(i) < int(until)]
        excluded = _split(q.get("exclude"))
        start, end = q.get("start_time"), q.get("end_time")
        tweets = [self.world.tweets[i] for i in ids]
        if excluded:
            kinds = {"replies": "replied_to", "retweets": "retweeted"}
            drop = {kinds[e] for e in excluded if e in kinds}
            tweets = [
                t for t in tweets if not {r.get("type") for r in t.get("referenced_tweets") or []} & drop
            ]
        if start:
            tweets = [t for t in tweets if _ts(t) >= _norm_time(start)]
        if end:
            tweets = [t for t in tweets if _ts(t) < _norm_time(end)]
        token = q.get("pagination_token")
        if token:
            after = decode_token(token)
            if after is None:
                return 400, problem_400([f"pagination_token: {token!r} is not a valid token"])
            tweets = [t for t in tweets if int(t["id"]) < int(after)]
        size = int(q.get("max_results") or 10)
        page, rest = tweets[:size], tweets[size:]
        meta: Raw = {"result_count": len(page)}
        if page:
            meta = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
            if rest:
                meta["next_token"] = encode_token(page[-1]["id"])
        includes = self.includes_for_tweets(page)
        return 200, self._body([self.tweet(t) for t in page], includes, meta)

    def dispatch(self, template: str, params: dict[str, str]) -> tuple[int, Raw]:
        """(status, body) for a validated request to `template`."""
        q = self.query
        if template == "/2/users/{id}/tweets":
            return self.timeline_body(params["id"])
        if template == "/2/tweets/{id}":
            return 200, self.tweets_body([params["id"]], "id", single=True)
        if template == "/2/tweets":
            return 200, self.tweets_body(q["ids"].split(","), "ids")
        if template == "/2/users/by/username/{username}":
            return 200, self.users_body([params["username"]], "username", single=True)
        if template == "/2/users/{id}":
            return 200, self.users_body([params["id"]], "id", single=True)
        if template == "/2/users":
            return 200, self.users_body(q["ids"].split(","), "ids")
        if template == "/2/users/by":
            return 200, self.users_body(q["usernames"].split(","), "usernames")
        return 404, not_found(template)


def _norm_time(value: str) -> str:
    """RFC 3339 → a UTC string that sorts like the recorded `created_at` (YYYY-MM-DDTHH:MM:SS)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _ts(tweet: Raw) -> str:
    return str(tweet.get("created_at", ""))[:19]
