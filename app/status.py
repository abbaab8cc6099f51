"""The status of long work (import jobs, email campaigns): one enum, one GraphQL JobStatus."""

from __future__ import annotations

import enum


class JobStatus(enum.Enum):
    PENDING = "PENDING"  # stored, nothing tried yet
    RUNNING = "RUNNING"  # a worker has begun
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
