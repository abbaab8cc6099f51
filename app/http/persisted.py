"""Automatic persisted queries (Apollo APQ): ``extensions.persistedQuery`` with ``version`` 1
and the document's ``sha256Hash``.

A hash with its document registers it (after checking that it is the document's hash); a
hash alone runs the document registered under it, or is answered PERSISTED_QUERY_NOT_FOUND,
upon which the client sends both. The registry is per process, bounded, least recently used
first out: a client whose hash another process has not seen just registers it there too.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from app.db import json_type
from app.http.errors import RequestError


class PersistedQueries:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._documents: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, extensions: Any) -> str | None:
        """The document to run: ``query``, or the one registered under the request's hash.

        Raises RequestError for an unknown hash, a hash that is not the document's, a
        persistedQuery extension that is not an object (BAD_REQUEST, 400, as extensions
        that are not an object), or one that is not version 1 with a sha256Hash.
        """
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            return query
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict):
            raise RequestError(
                "extensions.persistedQuery must be an object"
                ' ({"version": 1, "sha256Hash": "<64 hex digits>"}),'
                f" not {_json_type(persisted)}",
                "BAD_REQUEST",
                400,
            )
        if persisted.get("version") != 1:
            raise RequestError(
                "Only persisted queries of version 1 are supported", "PERSISTED_QUERY_NOT_SUPPORTED"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise RequestError("persistedQuery.sha256Hash must be 64 hex digits", "BAD_REQUEST")
        digest = digest.lower()
        if query is not None:
            if hashlib.sha256(query.encode("utf-8")).hexdigest() != digest:
                raise RequestError(
                    "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH"
                )
            self._remember(digest, query)
            return query
        found = self._documents.get(digest)
        if found is None:
            raise RequestError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        self._documents.move_to_end(digest)
        return found

    def _remember(self, digest: str, query: str) -> None:
        if digest in self._documents:
            self._documents.move_to_end(digest)
            return
        self._documents[digest] = query
        if len(self._documents) > self.maxsize:
            self._documents.popitem(last=False)


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type with its article, for a message."""
    kind = json_type(value)
    return kind if kind == "null" else ("an " if kind[0] in "ao" else "a ") + kind
