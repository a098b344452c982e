"""Deployments in SQL: the records, and the slots they reserve kept in one ledger row.

Every reservation (add, scale up) is a conditional `UPDATE deployment_slots SET reserved =
reserved + n WHERE reserved + n <= total` in the same transaction as the record's insert
or update: on PostgreSQL the row lock it takes orders concurrent reservations, on SQLite
the database's one writer does, so the live capacities never pass the total.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tuneyard import errors
from tuneyard.core import deployments
from tuneyard.core.deployments import LIVE, Deployment, DeploymentStatus, check_transition
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.ports import DeploymentPage
from tuneyard.storage import tables
from tuneyard.storage.sql import _Repo

__all__ = ["SqlDeployments"]

_POOL = "engine"
_LIVE = tuple(s.value for s in LIVE)


def _deployment(m: Mapping[Any, Any]) -> Deployment:
    return Deployment(
        id=m["id"],
        workspace_id=m["workspace_id"],
        name=m["name"],
        model=m["model"],
        base_model=m["base_model"],
        capacity=m["capacity"],
        status=DeploymentStatus(m["status"]),
        dialect=m["dialect"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        job_id=m["job_id"],
        step=m["step"],
        adapter=bool(m["adapter"]),
        created_by=m["created_by"],
        error=m["error"],
        attributes=dict(m["attributes"] or {}),
    )


def _reserve(conn: sa.Connection, slots: int, total: int) -> bool:
    """Take `slots` more (or give back, when negative) if the total allows; the ledger row
    is written first if a database lacks it."""
    t = tables.deployment_slots
    statement = (
        t.update()
        .where(t.c.pool == _POOL, t.c.reserved + slots <= total)
        .values(reserved=t.c.reserved + slots)
    )
    if conn.execute(statement).rowcount == 1:
        return True
    if conn.execute(sa.select(t.c.pool).where(t.c.pool == _POOL)).first() is None:
        conn.execute(t.insert().values(pool=_POOL, reserved=0))
        return conn.execute(statement).rowcount == 1
    return False


def _release(conn: sa.Connection, slots: int) -> None:
    """Give back `slots`."""
    t = tables.deployment_slots
    conn.execute(t.update().where(t.c.pool == _POOL).values(reserved=t.c.reserved - slots))


def _refusal(
    conn: sa.Connection, asked: int, total: int, *, own: int = 0
) -> errors.CapacityExceeded:
    """Why `asked` slots cannot be had (`own`: what the deployment holds already)."""
    t = tables.deployment_slots
    held = int(conn.execute(sa.select(t.c.reserved).where(t.c.pool == _POOL)).scalar() or 0)
    return deployments.capacity_refused(asked, free=total - held + own, total=total)


class SqlDeployments(_Repo):
    """Deployments in SQL; statuses move by compare-and-set, slots through one ledger row."""

    def add(self, deployment: Deployment, *, total_slots: int) -> None:
        """Insert it and reserve its capacity in one transaction."""
        row = {
            "id": deployment.id,
            "workspace_id": deployment.workspace_id,
            "name": deployment.name,
            "model": deployment.model,
            "base_model": deployment.base_model,
            "job_id": deployment.job_id,
            "step": deployment.step,
            "adapter": deployment.adapter,
            "capacity": deployment.capacity,
            "status": deployment.status.value,
            "dialect": deployment.dialect,
            "created_at": deployment.created_at,
            "updated_at": deployment.updated_at,
            "created_by": deployment.created_by,
            "error": deployment.error,
            "attributes": dict(deployment.attributes),
        }
        try:
            with self.engine.begin() as conn:
                if not _reserve(conn, deployment.slots, total_slots):
                    raise _refusal(conn, deployment.capacity, total_slots)
                conn.execute(tables.deployments.insert().values(**row))
        except sa.exc.IntegrityError as exc:
            raise errors.DeploymentNameTaken(
                f"Model instance {deployment.name} already exists, please specify a suffix",
                param="name",
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def get(self, deployment_id: str) -> Deployment | None:
        """The deployment, or None."""
        t = tables.deployments
        rows = self._rows(sa.select(t).where(t.c.id == deployment_id))
        return _deployment(rows[0]._mapping) if rows else None

    def find(self, workspace_id: str, name: str) -> Deployment | None:
        """The workspace's deployment called `name`, or None."""
        t = tables.deployments
        rows = self._rows(sa.select(t).where(t.c.workspace_id == workspace_id, t.c.name == name))
        return _deployment(rows[0]._mapping) if rows else None

    def page(self, workspace_id: str, *, offset: int, limit: int) -> DeploymentPage:
        """A page in the stable order, and the workspace's count."""
        t = tables.deployments
        rows, total = self._newest_first(
            t, t.c.workspace_id == workspace_id, offset=offset, limit=limit
        )
        return DeploymentPage([_deployment(r._mapping) for r in rows], total)

    def slice(self, workspace_id: str, *, after: Cursor | None, limit: int) -> Slice[Deployment]:
        """The workspace's deployments after the cursor."""
        t = tables.deployments
        rows, more = self._keyset(
            t, t.c.workspace_id == workspace_id, after=after, limit=limit, oldest_first=False
        )
        return Slice([_deployment(r._mapping) for r in rows], more)

    def serving(self, job_id: str) -> builtins.list[Deployment]:
        """The deployments of the job's tuned model or checkpoints."""
        t = tables.deployments
        rows = self._rows(sa.select(t).where(t.c.job_id == job_id).order_by(t.c.created_at))
        return [_deployment(r._mapping) for r in rows]

    def transition(
        self,
        deployment_id: str,
        old: DeploymentStatus,
        new: DeploymentStatus,
        updated_at: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """`old` → `new` by compare-and-set; leaving the live statuses frees the slots."""
        check_transition(old, new)
        t = tables.deployments
        moved = (
            t.update()
            .where(t.c.id == deployment_id, t.c.status == old.value)
            .values(status=new.value, updated_at=updated_at, error=error)
            .returning(t.c.capacity)
        )
        try:
            with self.engine.begin() as conn:
                capacity = conn.execute(moved).scalar()
                if capacity is None:
                    return False
                if old in LIVE and new not in LIVE:
                    _release(conn, int(capacity))
                return True
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def scale(
        self, deployment_id: str, capacity: int, updated_at: datetime, *, total_slots: int
    ) -> Deployment | None:
        """Set a live deployment's capacity, reserving the difference in one transaction."""
        t = tables.deployments
        # A write first: it locks the row (and SQLite's database) before anything is read.
        touch = (
            t.update()
            .where(t.c.id == deployment_id, t.c.status.in_(_LIVE))
            .values(updated_at=updated_at)
            .returning(t.c.capacity)
        )
        try:
            with self.engine.begin() as conn:
                held = conn.execute(touch).scalar()
                if held is None:
                    return None
                if not _reserve(conn, capacity - int(held), total_slots):
                    raise _refusal(conn, capacity, total_slots, own=int(held))
                conn.execute(t.update().where(t.c.id == deployment_id).values(capacity=capacity))
                row = conn.execute(sa.select(t).where(t.c.id == deployment_id)).mappings().one()
                return _deployment(row)
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def remove(self, deployment_id: str) -> bool:
        """Delete the row, giving back the slots of a live one."""
        t = tables.deployments
        gone = t.delete().where(t.c.id == deployment_id).returning(t.c.capacity, t.c.status)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(gone).first()
                if row is None:
                    return False
                if row.status in _LIVE:
                    _release(conn, int(row.capacity))
                return True
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def reserved(self) -> int:
        """The ledger's count of reserved slots."""
        t = tables.deployment_slots
        rows = self._rows(sa.select(t.c.reserved).where(t.c.pool == _POOL))
        return int(rows[0][0]) if rows else 0

    def retarget(self, deployment: Deployment) -> Deployment | None:
        """Serve another model: `UPDATE … WHERE id = ? AND status = 'RUNNING'`."""
        t = tables.deployments
        statement = (
            t.update()
            .where(t.c.id == deployment.id, t.c.status == DeploymentStatus.RUNNING.value)
            .values(
                model=deployment.model,
                base_model=deployment.base_model,
                job_id=deployment.job_id,
                step=deployment.step,
                adapter=deployment.adapter,
                attributes=dict(deployment.attributes),
                updated_at=deployment.updated_at,
            )
        )
        if self._run(statement).rowcount == 0:
            return None
        return self.get(deployment.id)
