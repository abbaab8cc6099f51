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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests clear the cache after changing the environment."""
    return Settings()
