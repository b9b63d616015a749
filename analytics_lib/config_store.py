"""The recommendation configuration (seed: MongoDB) behind one pymongo-shaped interface.

`MONGODB_URI` → a MongoDB server through pymongo; unset → montydb, an embedded document
store with pymongo's API, on SQLite under the data directory. Only calls both implement
are used: `find`, `insert_many`, `replace_one(upsert=True)`, `delete_many`,
`count_documents`, `distinct`, `create_index` (montydb accepts and ignores it: there,
uniqueness comes from writing by natural key). No `aggregate`, no `bulk_write`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from analytics_lib.project import data_dir


@dataclass(frozen=True)
class ConfigCollection:
    name: str
    key: tuple[str, ...]  # the natural key: unique, and what writes match on
    indexes: tuple[tuple[str, ...], ...]  # secondary indexes (MongoDB)
    description: str


CONFIG_COLLECTIONS: tuple[ConfigCollection, ...] = (
    ConfigCollection(
        "scenarios",
        ("tenant_id", "scenario_id"),
        (("tenant_id", "status"),),
        "Recommendation scenarios per tenant (home feed, item detail, search) and their status.",
    ),
    ConfigCollection(
        "items",
        ("tenant_id", "item_id"),
        (("tenant_id", "category"), ("tenant_id", "status")),
        "The item catalogue: category, title, status, publish date.",
    ),
    ConfigCollection(
        "models",
        ("tenant_id", "model_id"),
        (("tenant_id", "scenario_id"),),
        "Ranking models deployed per scenario, with version and algorithm.",
    ),
    ConfigCollection(
        "experiments",
        ("tenant_id", "experiment_id"),
        (("tenant_id", "scenario_id"), ("status",)),
        "A/B experiments: scenario, groups with traffic shares, primary metric, status.",
    ),
    ConfigCollection(
        "user_profiles",
        ("tenant_id", "user_id"),
        (("tenant_id", "segment"),),
        "User profiles: segment and preferred categories.",
    ),
)
COLLECTIONS_BY_NAME = {c.name: c for c in CONFIG_COLLECTIONS}


class ConfigStoreError(RuntimeError):
    """The configuration store refused or could not be reached; the message says which."""


class ConfigStoreClient(BaseModel):
    """`uri` set → MongoDB (pymongo); empty → montydb under `path` (default
    `<data dir>/config`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = ""
    path: str = ""
    database: str = "recommendation"

    def resolved_path(self) -> str:
        return self.path or str(data_dir() / "config")

    @contextmanager
    def connected(self) -> Iterator[Any]:
        """The database handle (pymongo `Database` or montydb `MontyDatabase`)."""
        if self.uri:
            import pymongo

            client: Any = pymongo.MongoClient(
                self.uri, serverSelectionTimeoutMS=5000, tz_aware=True
            )
        else:
            from montydb import MontyClient, set_storage

            path = self.resolved_path()
            set_storage(path, storage="sqlite", use_bson=False)
            client = MontyClient(path)
        try:
            yield client[self.database]
        finally:
            client.close()

    def ensure_indexes(self, db: Any) -> None:
        for collection in CONFIG_COLLECTIONS:
            handle = db[collection.name]
            handle.create_index([(field, 1) for field in collection.key], unique=True)
            for index in collection.indexes:
                handle.create_index([(field, 1) for field in index])

    def replace_tenant(
        self, db: Any, name: str, tenant_id: str, documents: Iterable[Mapping[str, Any]]
    ) -> int:
        """Replace one tenant's documents of a collection: re-running a load converges on
        the same collection instead of duplicating it. Delete + insert_many, because
        montydb's `replace_one` scans the collection per call (2,000 upserts took 64 s) and
        it has no `bulk_write`; readers may see the tenant's collection empty for the
        moment between the two calls, which the seed (demo tooling) accepts."""
        collection = COLLECTIONS_BY_NAME[name]
        rows = [dict(document) for document in documents]
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            if row.get("tenant_id") != tenant_id:
                raise ConfigStoreError(f"{name} document of another tenant in {tenant_id}: {row}")
            key = tuple(row.get(field) for field in collection.key)
            if any(value in (None, "") for value in key):
                raise ConfigStoreError(f"{name} document without {collection.key}: {row}")
            if key in seen:
                raise ConfigStoreError(f"{name} has {key} twice")
            seen.add(key)
        handle = db[name]
        if handle.count_documents({"tenant_id": tenant_id}):  # montydb: not on a new file
            handle.delete_many({"tenant_id": tenant_id})
        if rows:
            handle.insert_many(rows)
        return len(rows)

    def find(
        self, db: Any, name: str, query: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return list(db[name].find(dict(query or {}), {"_id": 0}))

    def summary(self, db: Any, name: str) -> dict[str, Any]:
        """What an observation reports: documents, tenants, newest update."""
        handle = db[name]
        newest = list(handle.find({}, {"updated_at": 1, "_id": 0}).sort("updated_at", -1).limit(1))
        return {
            "documents": handle.count_documents({}),
            "tenants": sorted(handle.distinct("tenant_id")),
            "updated_at": newest[0].get("updated_at") if newest else None,
        }


def now_text() -> str:
    """Timestamps as ISO text: both backends store and compare them the same way."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
