"""The tables of the state (SPEC §7), as SQLAlchemy Core tables.

Each table says in ``info["since"]`` the schema version that created it; the migration of that version
(``state.migrations``) creates it. Ids of tweets and users are kept as text (X ids are 64-bit, and the
archive's names use them as text); times are integer epoch seconds.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

from nostrweet.state.versions import SCHEMA_VERSION_TABLE

metadata = MetaData()

schema_version = Table(
    SCHEMA_VERSION_TABLE,
    metadata,
    Column("version", Integer, nullable=False),
    info={"since": 0},
)

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    info={"since": 1},
)

events = Table(
    "events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("subject", Text, nullable=False),  # tweet | profile | relays | blossom
    Column("subject_id", Text, nullable=False),
    Column("tweet_id", Text),
    Column("author", Text, nullable=False),
    Column("kind", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("event_json", Text, nullable=False),
    Index("events_subject", "subject", "subject_id"),
    info={"since": 1},
)

relay_states = Table(
    "relay_states",
    metadata,
    Column("event_id", Text, ForeignKey("events.event_id", ondelete="CASCADE"), nullable=False),
    Column("relay", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending | accepted | rejected
    Column("message", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", BigInteger),
    Column("updated_at", BigInteger, nullable=False, default=0),
    Column("claimed_by", Text),
    Column("claim_expires", BigInteger),
    PrimaryKeyConstraint("event_id", "relay"),
    Index("relay_states_due", "relay", "status", "next_attempt"),
    info={"since": 1},
)

users = Table(
    "users",
    metadata,
    Column("username", Text, primary_key=True),  # lower case
    Column("user_id", Text),
    Column("since_id", Text),  # the watermark
    Column("backfill", Integer),
    Column("backfill_floor", Text),
    Column("backfill_done", Boolean, nullable=False, default=True),
    Column("next_poll", BigInteger),
    Column("failures", Integer, nullable=False, default=0),
    Column("backoff", Float, nullable=False, default=0.0),
    Column("paused", Boolean, nullable=False, default=False),
    Column("added_at_runtime", Boolean, nullable=False, default=False),
    info={"since": 1},
)

rate_budgets = Table(
    "rate_budgets",
    metadata,
    Column("endpoint", Text, primary_key=True),
    Column("limit", Integer),
    Column("remaining", Integer),
    Column("reset_epoch", BigInteger),
    info={"since": 1},
)

blossom_blobs = Table(
    "blossom_blobs",
    metadata,
    Column("sha256", Text, nullable=False),
    Column("server", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("size", BigInteger),
    Column("mime", Text),
    PrimaryKeyConstraint("sha256", "server"),
    info={"since": 1},
)

tweets = Table(
    "tweets",
    metadata,
    Column("tweet_id", BigInteger, primary_key=True),
    Column("username", Text, nullable=False),
    Column("stamp", BigInteger, nullable=False),  # YYYYMMDDHHMMSS of the file name
    Column("file_name", Text, nullable=False),
    Index("tweets_user", "username", "tweet_id"),
    info={"since": 1},
)

profiles = Table(
    "profiles",
    metadata,
    Column("username", Text, primary_key=True),
    Column("stamp", BigInteger, nullable=False),
    Column("file_name", Text, nullable=False),
    info={"since": 1},
)

not_found = Table(
    "not_found",
    metadata,
    Column("tweet_id", BigInteger, primary_key=True),
    info={"since": 1},
)

instances = Table(
    "instances",
    metadata,
    Column("instance_id", Text, primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", Text, nullable=False),
    Column("heartbeat", BigInteger, nullable=False),
    info={"since": 1},
)

leases = Table(
    "leases",
    metadata,
    Column("username", Text, primary_key=True),
    Column("instance_id", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("leases_holder", "instance_id"),
    info={"since": 1},
)

skipped_tweets = Table(
    "skipped_tweets",
    metadata,
    Column("tweet_id", BigInteger, primary_key=True),
    Column("rule", Text, nullable=False),  # the filter rule's name: filters.exclude, users.<name>.filters.…
    Column("skipped_at", BigInteger, nullable=False),
    info={"since": 3},
)


webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("delivery_id", Text, nullable=False, unique=True),
    Column("webhook", Text, nullable=False),  # the URL it goes to
    Column("username", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON that is signed and sent
    Column("created_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger),
    Column("last_error", Text),
    Column("claimed_by", Text),
    Column("claim_expires", BigInteger),
    Index("webhook_deliveries_queue", "webhook", "username", "delivered_at", "seq"),
    info={"since": 2},
)

# -- a tweet's later life (SPEC §10): created by the named migration step ``lifecycle_tables`` --------

LIFECYCLE_STEP = "lifecycle"

tweet_fates = Table(
    "tweet_fates",
    metadata,
    Column("tweet_id", Text, primary_key=True),
    Column("fate", Text, nullable=False),  # deleted | superseded
    Column("successor", Text),  # superseded: the newest version's tweet id
    Column("decided_at", BigInteger, nullable=False),
    info={"step": LIFECYCLE_STEP},
)

retractions = Table(
    "retractions",
    metadata,
    Column("event_id", Text, primary_key=True),  # the kind 5
    Column("target_id", Text, nullable=False, unique=True),  # the event it asks to delete
    Column("tweet_id", Text, nullable=False),
    Column("event_json", Text, nullable=False),
    Column("relays", Text, nullable=False, default=""),  # where it goes (the target's), space-separated
    Column("accepted", Text, nullable=False, default=""),  # relays that took it, space-separated
    Column("created_at", BigInteger, nullable=False),
    Index("retractions_tweet", "tweet_id"),
    info={"step": LIFECYCLE_STEP},
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("username", Text, primary_key=True),  # lower case
    Column("npub", Text, nullable=False),
    Column("event_id", Text, nullable=False),  # the pointer note
    Column("event_json", Text, nullable=False),
    Column("accepted", Text, nullable=False, default=""),
    Column("profile_done", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    info={"step": LIFECYCLE_STEP},
)


def tables_of_step(step: str) -> list[Table]:
    """The tables that the named migration step ``step`` creates, in dependency order."""
    return [t for t in metadata.sorted_tables if t.info.get("step") == step]


def tables_since(version: int) -> list[Table]:
    """The tables that the migration to ``version`` creates, in dependency order."""
    return [t for t in metadata.sorted_tables if t.info.get("since") == version]
