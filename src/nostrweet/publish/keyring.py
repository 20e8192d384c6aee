"""The one rule for a user's mirror key, used by every command: a fixed key file if the config gives
the user one (``[users.<name>] key_file``, SPEC §6), else the key derived from the mnemonic (SPEC §3).

Key files are named by username, keys are asked for by numeric user id: a username is tied to its id
when the caller knows both (:meth:`KeyRing.bind`), or else through ``user_id_of`` (the cache's newest
profile, or a cached tweet's author), asked again until it knows the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from nostrweet.nostr.keys import KeyDeriver, MirrorKey, load_key_file
from nostrweet.store import CacheStore

__all__ = ["KeyRing", "cached_user_id", "key_ring"]


class KeyRing:
    """Derived keys, except for the users that have a fixed key file."""

    def __init__(
        self,
        deriver: KeyDeriver | Callable[[], KeyDeriver],
        key_files: Mapping[str, Path] | None = None,
        user_id_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self._deriver = deriver
        self.fixed: dict[str, MirrorKey] = {}  # user id -> its fixed key
        self._key_files: dict[str, Path] = dict(key_files or {})  # username -> key file
        self._bound: dict[str, str] = {}  # username -> user id, for those with a key file
        self._user_id_of = user_id_of or (lambda _name: None)

    @property
    def deriver(self) -> KeyDeriver:
        """The mnemonic's key deriver; made (and the mnemonic required) only when first needed."""
        if not isinstance(self._deriver, KeyDeriver):
            self._deriver = self._deriver()
        return self._deriver

    def bind(self, username: str, user_id: str) -> None:
        """``username`` has the numeric id ``user_id``: its key file, if it has one, now serves that id."""
        path = self._key_files.get(username)
        if path is not None and username not in self._bound:
            self.fixed[str(user_id)] = load_key_file(path, str(user_id))
            self._bound[username] = str(user_id)

    def by_username(self, username: str) -> MirrorKey | None:
        """The fixed key of a username, or None when it has none (with the id "" if no id is known)."""
        path = self._key_files.get(username)
        if path is None:
            return None
        if username not in self._bound:
            user_id = self._user_id_of(username)
            if not user_id:
                return load_key_file(path, "")
            self.bind(username, user_id)
        return self.fixed[self._bound[username]]

    def for_user(self, user_id: str | int) -> MirrorKey:
        """The mirror key of a numeric user id."""
        uid = str(user_id)
        if uid not in self.fixed:
            for name in self._key_files.keys() - self._bound.keys():
                if self._user_id_of(name) == uid:
                    self.bind(name, uid)
        return self.fixed.get(uid) or self.deriver.for_user(user_id)

    def mirror_pubkeys(self, user_id: str | int) -> tuple[str, ...]:
        """The pubkeys the duplicate check trusts for a user: the fixed key only, else the deriver's."""
        key = self.for_user(user_id)
        if str(user_id) in self.fixed:
            return (key.pubkey_hex,)
        return self.deriver.mirror_pubkeys(user_id)


def cached_user_id(store: CacheStore, username: str) -> str | None:
    """A username's numeric id from the cache: its newest profile, else a cached tweet's author."""
    profile = store.newest_profile(username)
    if profile is not None:
        return profile.id
    for tid in reversed(store.tweet_ids_of(username)):
        doc = store.read_tweet(tid)
        author = doc.author() if doc is not None else None
        if author is not None and author.username.lower() == username:
            return author.id
    return None


def key_ring(
    store: CacheStore, key_files: Mapping[str, Path], make_deriver: Callable[[], KeyDeriver]
) -> KeyRing:
    """The key ring of a command that works on ``store``."""
    return KeyRing(make_deriver, key_files, lambda name: cached_user_id(store, name))
