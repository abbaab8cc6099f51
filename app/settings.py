"""One typed Settings object, read once from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite://./data/segments.sqlite3"
    smtp_url: str | None = None
    email_outbox_dir: str = "./data/outbox"

    graphiql: bool = True
    introspection: bool = True
    log_level: str = "INFO"

    # Limits: past any of them a request is refused with a message naming it.
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=10)
    max_page_size: int = Field(default=500, ge=1)
    max_bulk_ids: int = Field(default=100_000, ge=1)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_name_length: int = Field(default=200, ge=1)
    max_description_length: int = Field(default=2000, ge=1)
    max_upsert_batch: int = Field(default=10_000, ge=1)
    max_lookup_ids: int = Field(default=1000, ge=1)  # member ids per membershipsOf

    # How long a verified API key is trusted without asking the database again.
    key_cache_seconds: float = Field(default=5.0, ge=0)

    # Live events: messages queued per subscriber before it is told it missed some.
    live_queue_size: int = Field(default=100, ge=1)
    # Origins (comma-separated, "*" for any) whose pages may open the GraphQL WebSocket;
    # clients that send no Origin (servers) and same-origin pages always may.
    ws_allowed_origins: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests clear the cache after changing the environment."""
    return Settings()
