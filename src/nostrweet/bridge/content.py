"""Tweet text → note text (SPEC §4): entities by position, HTML entities decoded, mentions as NIP-27 links.

Pure functions on strings and the typed API models. Entity positions in API v2 count Unicode code points
of the text *as the API sends it* (with ``&amp;`` still escaped), which is how Python indexes a ``str``;
the fixtures confirm it. So the text is cut at entity positions first and each plain piece is
HTML-decoded afterwards. An entity whose span does not hold what it names (seen in real data) is looked
up by its URL instead, and skipped if it is not there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from operator import attrgetter, itemgetter

import msgspec

from nostrweet.twitter.models import Entities, MentionEntity, UrlEntity

# X escapes exactly &, < and > in tweet text; numeric references are decoded too, as the spec asks.
_HTML_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
# A t.co link, also a truncated one ("https://t.co/ab…") as in the text of retweets.
_TCO = re.compile(r"https?://t\.co/[A-Za-z0-9]*…?")
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?:[A-Za-z0-9_]+|i(?:/web)?)/status(?:es)?/(\d+)(/.*)?$"
)
_MEDIA_SUFFIX = re.compile(r"^/(?:photo|video)/\d+/?$")


def _decode_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _NAMED[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return match.group(0)
    return chr(code)


def decode_entities_by_pattern(text: str) -> str:
    """The rule itself: one left-to-right pass of the entity pattern."""
    return _HTML_ENTITY.sub(_decode_entity, text)


def decode_html_entities(text: str) -> str:
    """Decode ``&amp; &lt; &gt; &quot; &apos;`` and numeric references; leave anything else as it is."""
    if "&" not in text:
        return text
    if "&#" not in text and "&quot;" not in text and "&apos;" not in text:
        # Only &amp; &lt; &gt; can match, and they never overlap: replacing them one name at a time,
        # &amp; last (so the & it leaves is not read again), is what the pattern does.
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return decode_entities_by_pattern(text)


def status_url_id(url: str | None) -> tuple[str, bool] | None:
    """For a tweet status URL: (tweet id, whether it points at one of the tweet's photos/videos)."""
    if not url or "/status" not in url:
        return None
    match = _STATUS_URL.match(url)
    if match is None:
        return None
    suffix = match.group(2) or ""
    return match.group(1), bool(_MEDIA_SUFFIX.match(suffix.split("?")[0]))


def expanded_link(url: UrlEntity) -> str:
    """What a t.co link stands for: ``expanded_url`` (else ``unwound_url``), or "" if neither is known.

    A fragment that carries a t.co link (``…#click=https://t.co/…``, seen in real data) is dropped: a
    fragment never reaches the server, and the t.co inside it is a tracker, not content.
    """
    for candidate in (url.expanded_url, url.unwound_url):
        if not candidate:
            continue
        if "t.co/" not in candidate:
            return candidate
        if "#" in candidate:
            candidate = candidate.split("#", 1)[0]
        if not _TCO.search(candidate):
            return candidate
    return ""


def remove_tco_links(text: str) -> str:
    """Drop t.co links that no entity explains (no expansion is known for them)."""
    return _TCO.sub("", text) if "t.co/" in text else text


class Rendered(msgspec.Struct):
    """A rendered text and what it referenced."""

    text: str
    # user ids written as npubs, first-seen order
    mentioned_ids: list[str] = msgspec.field(default_factory=list)
    hashtags: list[str] = msgspec.field(default_factory=list)  # lower-case, first-seen order
    # URL entities that were found in the text
    replaced_urls: list[UrlEntity] = msgspec.field(default_factory=list)


def _locate(text: str, start: int, end: int, expected: str, taken: list[tuple[int, int]]) -> int | None:
    """Where ``expected`` sits: at the entity's position if it matches there, else its first free occurrence."""
    size = len(expected)
    if 0 <= start <= end <= len(text):
        piece = text[start:end]
        if (piece == expected or piece.lower() == expected.lower()) and _free(start, size, taken):
            return start
    low_text, low = text.lower(), expected.lower()
    pos = low_text.find(low)
    while pos != -1:
        if _free(pos, size, taken):
            return pos
        pos = low_text.find(low, pos + 1)
    return None


def _free(start: int, size: int, taken: list[tuple[int, int]]) -> bool:
    """True when ``size`` characters from ``start`` overlap no span already taken."""
    for a, b in taken:  # noqa: SIM110 (a plain loop: the build's hot path, no generator)
        if start + size > a and start < b:
            return False
    return True


def _plain(piece: str) -> str:
    """A stretch of tweet text between entities: HTML entities decoded, stray t.co links dropped."""
    if "&" in piece:
        piece = decode_html_entities(piece)
    return remove_tco_links(piece) if "t.co/" in piece else piece


def render_text(
    text: str,
    entities: Entities | None,
    *,
    mention_id: Callable[[MentionEntity], str | None],
    npub_for: Callable[[str], str],
    url_for: Callable[[UrlEntity], str],
) -> Rendered:
    """Apply URL and mention entities by position, decode HTML entities in the rest, drop stray t.co links.

    ``mention_id`` gives a mention's numeric user id (or None: the ``@name`` stays); ``npub_for`` turns a
    user id into an ``npub1…``; ``url_for`` gives a URL entity's replacement text ("" removes it).
    """
    if entities is None:
        return Rendered(text=_plain(text))
    # (start, end, replacement, mentioned user id or None, URL entity or None)
    spans: list[tuple[int, int, str, str | None, UrlEntity | None]] = []
    taken: list[tuple[int, int]] = []
    urls = entities.urls
    for url in sorted(urls, key=_START) if len(urls) > 1 else urls:
        if not url.url:
            continue
        at = _locate(text, url.start, url.end, url.url, taken)
        if at is None:
            continue
        end = at + len(url.url)
        taken.append((at, end))
        spans.append((at, end, url_for(url), None, url))
    mentions = entities.mentions
    for mention in sorted(mentions, key=_START) if len(mentions) > 1 else mentions:
        uid = mention_id(mention)
        if uid is None or not mention.username:
            continue
        handle = "@" + mention.username
        at = _locate(text, mention.start, mention.end, handle, taken)
        if at is None:
            continue
        end = at + len(handle)
        taken.append((at, end))
        spans.append((at, end, "nostr:" + npub_for(uid), uid, None))
    if len(spans) > 1:
        spans.sort(key=_FIRST)

    out: list[str] = []
    mentioned: list[str] = []
    replaced: list[UrlEntity] = []
    cursor = 0
    for start, end, replacement, uid, url_entity in spans:
        out.append(_plain(text[cursor:start]))
        out.append(replacement)
        cursor = end
        if uid is not None:
            if uid not in mentioned:
                mentioned.append(uid)
        elif url_entity is not None:
            replaced.append(url_entity)
    out.append(_plain(text[cursor:]))
    hashtags = entities.hashtags
    return Rendered(
        text="".join(out),
        mentioned_ids=mentioned,
        hashtags=unique_lower(h.tag for h in hashtags if h.tag) if hashtags else [],
        replaced_urls=replaced,
    )


_START = attrgetter("start")  # an entity's start
_FIRST = itemgetter(0)  # a span's start


def unique_lower(values: Iterable[str]) -> list[str]:
    """Lower-cased values without duplicates, in first-seen order."""
    out: list[str] = []
    for value in values:
        low = value.lower()
        if low not in out:
            out.append(low)
    return out


_TRUNCATED_TAIL = re.compile(r"(?:(?<=\s)|^)(\S+)…\s*\Z")


def drop_truncated_link(text: str) -> str:
    """Drop a link cut short at the end of a truncated text (``… https://t.…``), as in ``RT @x: …`` texts."""
    if "…" not in text:
        return text
    match = _TRUNCATED_TAIL.search(text)
    if match is None:
        return text
    token = match.group(1)
    if token.startswith("http") or "https://".startswith(token):
        return text[: match.start(1)] + "…"
    return text


def tidy(text: str) -> str:
    """Strip trailing spaces on each line and blank lines at both ends; keep inner blank lines."""
    if "\n" not in text and "\r" not in text:
        return text.rstrip()
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def join_blocks(blocks: Iterable[str]) -> str:
    """Join non-empty blocks with one blank line between them."""
    return "\n\n".join([b for b in blocks if b])
