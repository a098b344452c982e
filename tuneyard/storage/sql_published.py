"""Published models and their versions in SQL.

A model's name is unique per workspace (`ux_published_models_workspace_name`); a version
takes the number one past its model's highest in the transaction that inserts it, and the
unique (model_id, number) turns a concurrent twin into an IntegrityError that is retried
with the next number.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tuneyard import errors
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.published import PublishedModel, PublishedVersion
from tuneyard.storage import tables
from tuneyard.storage.sql import _Repo

__all__ = ["SqlPublished"]

_ATTEMPTS = 5


def _model(m: Mapping[Any, Any]) -> PublishedModel:
    return PublishedModel(
        id=m["id"],
        workspace_id=m["workspace_id"],
        name=m["name"],
        kind=m["kind"],
        dialect=m["dialect"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        description=m["description"],
        labels=tuple(m["labels"] or ()),
        created_by=m["created_by"],
        attributes=dict(m["attributes"] or {}),
    )


def _version(m: Mapping[Any, Any]) -> PublishedVersion:
    return PublishedVersion(
        id=m["id"],
        model_id=m["model_id"],
        workspace_id=m["workspace_id"],
        job_id=m["job_id"],
        created_at=m["created_at"],
        number=m["number"],
        step=m["step"],
        description=m["description"],
        created_by=m["created_by"],
        attributes=dict(m["attributes"] or {}),
    )


class SqlPublished(_Repo):
    """Published models and versions in SQL."""

    def add_model(self, model: PublishedModel) -> None:
        """Insert a published model: PublishedNameTaken on a name clash in its workspace."""
        statement = tables.published_models.insert().values(
            id=model.id,
            workspace_id=model.workspace_id,
            name=model.name,
            kind=model.kind,
            description=model.description,
            labels=list(model.labels),
            dialect=model.dialect,
            created_at=model.created_at,
            updated_at=model.updated_at,
            created_by=model.created_by,
            attributes=dict(model.attributes),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except sa.exc.IntegrityError as exc:
            raise errors.PublishedNameTaken(
                f"A model named {model.name} already exists.", param="name"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def get_model(self, model_id: str) -> PublishedModel | None:
        """The published model, or None."""
        t = tables.published_models
        rows = self._rows(sa.select(t).where(t.c.id == model_id))
        return _model(rows[0]._mapping) if rows else None

    def find_model(self, workspace_id: str, name: str) -> PublishedModel | None:
        """The workspace's published model called `name`, or None."""
        t = tables.published_models
        rows = self._rows(sa.select(t).where(t.c.workspace_id == workspace_id, t.c.name == name))
        return _model(rows[0]._mapping) if rows else None

    def slice_models(
        self, workspace_id: str, *, after: Cursor | None, limit: int, oldest_first: bool = False
    ) -> Slice[PublishedModel]:
        """The workspace's published models after the cursor."""
        t = tables.published_models
        rows, more = self._keyset(
            t, t.c.workspace_id == workspace_id, after=after, limit=limit, oldest_first=oldest_first
        )
        return Slice([_model(r._mapping) for r in rows], more)

    def remove_model(self, model_id: str) -> bool:
        """Delete the model and its versions."""
        versions, models = tables.published_versions, tables.published_models
        try:
            with self.engine.begin() as conn:
                conn.execute(versions.delete().where(versions.c.model_id == model_id))
                return conn.execute(models.delete().where(models.c.id == model_id)).rowcount > 0
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def add_version(
        self, version: PublishedVersion, updated_at: datetime
    ) -> PublishedVersion | None:
        """Insert the version with the next number and touch its model; None when the
        model is gone."""
        for _ in range(_ATTEMPTS):
            try:
                return self._insert_version(version, updated_at)
            except sa.exc.IntegrityError:
                continue  # a concurrent add took the number: take the next
            except sa.exc.SQLAlchemyError as exc:
                raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        raise errors.StorageError("could not number a published version")

    def _insert_version(
        self, version: PublishedVersion, updated_at: datetime
    ) -> PublishedVersion | None:
        models, versions = tables.published_models, tables.published_versions
        with self.engine.begin() as conn:
            touched = conn.execute(
                models.update().where(models.c.id == version.model_id).values(updated_at=updated_at)
            )
            if touched.rowcount == 0:
                return None
            highest = conn.execute(
                sa.select(sa.func.max(versions.c.number)).where(
                    versions.c.model_id == version.model_id
                )
            ).scalar_one()
            number = int(highest or 0) + 1
            conn.execute(
                versions.insert().values(
                    id=version.id,
                    model_id=version.model_id,
                    workspace_id=version.workspace_id,
                    number=number,
                    job_id=version.job_id,
                    step=version.step,
                    description=version.description,
                    created_at=version.created_at,
                    created_by=version.created_by,
                    attributes=dict(version.attributes),
                )
            )
        return PublishedVersion(
            id=version.id,
            model_id=version.model_id,
            workspace_id=version.workspace_id,
            job_id=version.job_id,
            created_at=version.created_at,
            number=number,
            step=version.step,
            description=version.description,
            created_by=version.created_by,
            attributes=dict(version.attributes),
        )

    def get_version(self, version_id: str) -> PublishedVersion | None:
        """The version, or None."""
        t = tables.published_versions
        rows = self._rows(sa.select(t).where(t.c.id == version_id))
        return _version(rows[0]._mapping) if rows else None

    def versions(self, model_id: str) -> builtins.list[PublishedVersion]:
        """The model's versions, by number."""
        t = tables.published_versions
        rows = self._rows(sa.select(t).where(t.c.model_id == model_id).order_by(t.c.number))
        return [_version(r._mapping) for r in rows]

    def remove_version(self, version_id: str, updated_at: datetime) -> bool:
        """Delete the version and touch its model."""
        models, versions = tables.published_models, tables.published_versions
        try:
            with self.engine.begin() as conn:
                model_id = conn.execute(
                    sa.select(versions.c.model_id).where(versions.c.id == version_id)
                ).scalar_one_or_none()
                if model_id is None:
                    return False
                gone = conn.execute(versions.delete().where(versions.c.id == version_id))
                conn.execute(
                    models.update().where(models.c.id == model_id).values(updated_at=updated_at)
                )
                return gone.rowcount > 0
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
