"""One typed Settings object, read once from the environment."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite://./data/segments.sqlite3"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    # an empty variable (DATABASE_URL= ...) means the default, as no variable does
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = DEFAULT_DATABASE_URL
    smtp_url: str | None = None
    email_outbox_dir: str = "./data/outbox"

    # Email campaigns (app/email): SMTP_URL is smtp://user:pass@host:port (STARTTLS as
    # SMTP_STARTTLS says) or smtps://... (TLS from the first byte); without it, .eml files.
    smtp_starttls: Literal["auto", "always", "never"] = "auto"
    smtp_validate_certs: bool = True
    smtp_timeout: float = Field(default=30.0, gt=0)
    email_from: str = "Segments <noreply@localhost>"
    email_worker: bool = True  # run the sending worker in this process
    email_rate_limit: float = Field(default=10.0, ge=0)  # messages a second per worker; 0: none
    email_retry_base_seconds: float = Field(default=5.0, gt=0)  # doubled per attempt
    email_retry_max_seconds: float = Field(default=600.0, gt=0)
    email_max_attempts: int = Field(default=8, ge=1)
    email_poll_seconds: float = Field(default=2.0, gt=0)  # how often to look for work not woken
    # a claim older than this belongs to a worker that died mid-send; must outlast one send
    email_claim_timeout_seconds: float = Field(default=300.0, gt=0)
    max_email_recipients: int = Field(default=100_000, ge=1)
    max_email_subject_length: int = Field(default=255, ge=1)
    max_email_body_bytes: int = Field(default=256 * 1024, ge=1)

    # The membership sweeper (app/changes/sweeper.py): listing expiries, days_ago() rules and
    # the pruning of the record, every MEMBERSHIP_SWEEP_SECONDS (membership_sweeper=false: by
    # another process, or not at all in tests).
    membership_sweeper: bool = True
    membership_sweep_seconds: float = Field(default=60.0, gt=0)

    graphiql: bool = True
    introspection: bool = True
    log_level: str = "INFO"

    # Limits: past any of them a request is refused with a message naming it.
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=10)
    # at least the largest default page (membershipChanges's 100): a connection asked
    # without ``first`` must never be refused for a size its caller did not ask for
    max_page_size: int = Field(default=500, ge=100)
    max_bulk_ids: int = Field(default=100_000, ge=1)
    max_batch_changes: int = Field(default=1000, ge=1)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # at most the columns' size (segment and persona names, option labels: 200): a longer
    # limit would let through names the database refuses
    max_name_length: int = Field(default=200, ge=1, le=200)
    max_description_length: int = Field(default=2000, ge=1)
    max_upsert_batch: int = Field(default=10_000, ge=1)
    max_lookup_ids: int = Field(default=1000, ge=1)  # member ids per membershipsOf

    # How long a verified API key is trusted without asking the database again.
    key_cache_seconds: float = Field(default=5.0, ge=0)

    # Pickers (searchMembers, resolveMembers...): most options one call returns.
    max_picker_limit: int = Field(default=100, ge=1)

    # Imports: uploads are streamed to disk under import_dir, refused past max_upload_bytes,
    # and run by a worker in the server process (import_worker=false: by another process).
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    import_dir: str = "./data/imports"
    import_worker: bool = True
    import_batch_rows: int = Field(default=5000, ge=1)
    # a RUNNING job whose worker has not reported for this long is taken over (crash recovery)
    import_stale_seconds: float = Field(default=15.0, gt=0)

    # Live events: messages queued per subscriber before it is told it missed some.
    live_queue_size: int = Field(default=100, ge=1)
    # Origins (comma-separated, "*" for any) whose pages may open the GraphQL WebSocket;
    # clients that send no Origin (servers) and same-origin pages always may.
    ws_allowed_origins: str = ""

    # Issue 12: ready to run for real (app/http, app/graphql/cost.py).
    # The most a document may cost (app/graphql/cost.py); refused over it: MAX_COST_EXCEEDED.
    max_query_cost: int = Field(default=50_000, ge=1)
    # A per-key budget: cost a second refilled into a bucket of throttle_burst (0: no budget).
    throttle_cost_per_second: float = Field(default=0.0, ge=0)
    throttle_burst: int = Field(default=50_000, ge=1)
    # Automatic persisted queries: documents kept per process (least recently used out).
    persisted_query_cache_size: int = Field(default=1000, ge=1)
    # Origins (comma-separated, "*" for any) whose pages may call the API (CORS); none: no CORS.
    cors_origins: str = ""
    # Answers at least this big are compressed (zstd, br or gzip) for clients that accept it.
    compress_min_bytes: int = Field(default=1000, ge=0)
    # GET /metrics in the Prometheus text format.
    metrics: bool = True

    # Hardening (issue 13). Fields selected by one document once its fragments are expanded:
    # bounds the work of validation (and execution) whatever the fragments' nesting.
    max_selections: int = Field(default=2000, ge=10)
    # Every string, id and JSON value of a request is checked before anything runs
    # (app/graphql/input_guard.py). Ids are stored in 255-character columns: no more.
    max_id_length: int = Field(default=255, ge=1, le=255)
    max_search_length: int = Field(default=200, ge=1)
    max_string_length: int = Field(default=1024 * 1024, ge=1)
    max_json_depth: int = Field(default=32, ge=1, le=500)
    # A GraphQL request still running after this long is cancelled (its transaction rolled
    # back) and answered 503 TIMEOUT; 0: no deadline. Uploads are not held to it.
    request_timeout_seconds: float = Field(default=30.0, ge=0)
    # Rows all the connections of one operation may return together (pages x nested pages x
    # aliases): the executor's work on a large result cannot be interrupted, so it is bounded.
    max_result_rows: int = Field(default=10_000, ge=1)

    # Membership as data (issue 14): days of the membership record kept; an `at` before them
    # is refused with HISTORY_UNAVAILABLE.
    membership_history_days: int = 90

    # Webhooks (app/webhooks): batches of membership changes POSTed by a worker in the server
    # process (webhook_worker=false: by other processes only), signed, retried with backoff.
    webhook_worker: bool = True
    # URLs on private, loopback, link-local (or other non-public) addresses are refused unless
    # this is true (tests, receivers on an internal network)
    webhook_allow_private_networks: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)  # one attempt, all of it
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)  # doubled per failed attempt
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_failure_hours: float = Field(default=24.0, gt=0)  # then it is disabled
    webhook_batch_size: int = Field(default=500, ge=1)  # changes per delivery, at most
    webhook_concurrency: int = Field(default=8, ge=1)  # webhooks one worker sends to at once
    webhook_poll_seconds: float = Field(default=5.0, gt=0)  # how often to look for work unwoken
    # a claim on a webhook lasts this long: a worker that died mid-send is replaced after it
    webhook_claim_timeout_seconds: float = Field(default=60.0, gt=0)
    # (settled deliveries are kept MEMBERSHIP_HISTORY_DAYS, as the record they name)
    max_webhooks_per_site: int = Field(default=100, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        # said here, in one line, rather than by the ORM's traceback at the first connection
        url = url.strip() or DEFAULT_DATABASE_URL
        if not url.startswith(("sqlite://", "postgres://", "postgresql://")):
            scheme, found, _ = url.partition("://")
            given = f"it starts with {scheme}://" if found and scheme else "it has no scheme"
            raise ValueError(
                f"must start with sqlite:// (a file) or postgres:// (also postgresql://): {given}"
            )
        if url.startswith("sqlite://") and not url.removeprefix("sqlite://").split("?", 1)[0]:
            raise ValueError("sqlite:// names no file: give its path, as sqlite://./data/x.sqlite3")
        if url.startswith(("postgres://", "postgresql://")):
            _check_postgres_url(url)
        return url

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        # said here rather than by logging's traceback when the server configures its logs
        if level.strip().upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level.strip().upper()

    @field_validator("email_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        # its address is every message's envelope sender (MAIL FROM): one that is no address
        # would have every delivery refused by the SMTP server, found only by the recipients
        address = parseaddr(value.strip())[1]
        local, at, domain = address.rpartition("@")
        if not (at and local and domain and address.isascii()) or any(c.isspace() for c in address):
            raise ValueError('must be an address, "name@example.com" or "Name <name@example.com>"')
        return value.strip()

    @field_validator("smtp_url")
    @classmethod
    def _smtp_server(cls, url: str | None) -> str | None:
        # as the email worker reads it (app/email/smtp.py), said at start rather than by a
        # traceback that fails the server's startup (no value repeated: it holds a password)
        if url is None or not url.strip():
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:password@host:port or smtps://...")
        try:
            parts.port  # noqa: B018 (urlsplit checks the port when it is read)
        except ValueError:
            raise ValueError("the port is not a number (0-65535)") from None
        return url.strip()

    @model_validator(mode="after")
    def _claims_outlast_sends(self) -> Settings:
        # a send is cut off at half the claim timeout; each SMTP step may take smtp_timeout
        if self.email_claim_timeout_seconds < 10 * self.smtp_timeout:
            raise ValueError("EMAIL_CLAIM_TIMEOUT_SECONDS must be at least 10 x SMTP_TIMEOUT")
        return self

    @model_validator(mode="after")
    def _webhook_claims_outlast_sends(self) -> Settings:
        # a send is cut off at webhook_timeout_seconds; its claim must still be held when it
        # settles, or another worker could send the same batch at the same time
        if self.webhook_claim_timeout_seconds < 2 * self.webhook_timeout_seconds + 5:
            raise ValueError(
                "WEBHOOK_CLAIM_TIMEOUT_SECONDS must be at least 2 x WEBHOOK_TIMEOUT_SECONDS + 5"
            )
        return self


def _check_postgres_url(url: str) -> None:
    """A postgres:// URL names a database, a numeric port and pool sizes asyncpg takes
    (minsize >= 0, maxsize >= 1, minsize <= maxsize): said here, in one line, rather than by a
    traceback at the first connection."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (urlsplit checks the port when it is read)
    except ValueError:
        raise ValueError("the port is not a number (0-65535)") from None
    if not parts.path.strip("/"):
        raise ValueError(
            "names no database: give its name after the host, as postgres://user@host:5432/segments"
        )
    options = dict(parse_qsl(parts.query))
    sizes = {}
    for name, least in (("minsize", 0), ("maxsize", 1)):
        if name in options:
            given = options[name]
            if not given.isdigit() or int(given) < least:
                raise ValueError(f"{name} must be a whole number, at least {least}")
            sizes[name] = int(given)
    if len(sizes) == 2 and sizes["minsize"] > sizes["maxsize"]:
        raise ValueError(f"minsize ({sizes['minsize']}) is over maxsize ({sizes['maxsize']})")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests clear the cache after changing the environment.
    Raises pydantic's ValidationError for a setting that is not valid (``problems`` words it)."""
    return Settings()


def problems(error: ValidationError) -> str:
    """A ValidationError of the settings in one line, each setting named as in the
    environment (no value repeated: a secret may be among them)."""
    said = []
    for found in error.errors():
        message = str(found["msg"]).removeprefix("Value error, ")
        names = [str(part).upper() for part in found["loc"]]
        said.append(f"{'.'.join(names)}: {message}" if names else message)
    return "; ".join(said)
