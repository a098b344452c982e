"""The SQL repositories (SQLite by default; any SQLAlchemy URL the migrations support)."""

from __future__ import annotations

import builtins
import dataclasses
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tuneyard import errors
from tuneyard.core.buckets import Bucket
from tuneyard.core.events import JobEvent
from tuneyard.core.files import StoredFile
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import FAIR_SHARE_WINDOW, Hyperparameters, Job, Parent, Progress
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.ports import ApiKey, Fence, FilePage, Page
from tuneyard.core.states import LEASED, TERMINAL, JobStatus
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.storage import lookup, tables

__all__ = ["SqlBuckets", "SqlEvents", "SqlFiles", "SqlGroups", "SqlJobs", "SqlKeys"]

_ACTIVE = (JobStatus.RUNNING.value, JobStatus.CANCELLING.value, JobStatus.PAUSING.value)
_LEASED = tuple(s.value for s in LEASED)
_CLAIM_TRIES = 5


def _job(row: sa.Row[Any]) -> Job:
    return _job_of(row._mapping)


E = TypeVar("E", bound=enum.Enum)


def _members(kind: type[E]) -> Callable[[Any], E]:
    """`kind(value)` by a dict lookup (an Enum call costs a few µs, and a job has four);
    a value not among them is still refused by `kind` itself."""
    by_value = {member.value: member for member in kind}

    def member(value: Any) -> E:
        found = by_value.get(value)
        return found if found is not None else kind(value)

    return member


_task_type = _members(TaskType)
_method = _members(Method)
_status = _members(JobStatus)
_objective = _members(Objective)
_HYPERPARAMETERS: dict[bytes, Hyperparameters] = {}
_HYPERPARAMETERS_KEPT = 1024


def _hyperparameters(stored: Mapping[str, Any]) -> Hyperparameters:
    """`Hyperparameters.from_dict(stored)`, remembered by the stored value: a frozen
    dataclass of ~20 fields cost ~10 µs to build on every read of a job, and most jobs
    share a few sets of hyperparameters. Keyed by the value's canonical JSON, so equal
    values (and only those) share one instance."""
    key = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS)
    found = _HYPERPARAMETERS.get(key)
    if found is None:
        found = Hyperparameters.from_dict(stored)
        if len(_HYPERPARAMETERS) >= _HYPERPARAMETERS_KEPT:
            _HYPERPARAMETERS.clear()
        _HYPERPARAMETERS[key] = found
    return found


def _job_of(m: Mapping[Any, Any]) -> Job:
    return Job(
        id=m["id"],
        workspace_id=m["workspace_id"],
        display_name=m["display_name"],
        base_model=m["base_model"],
        task_type=_task_type(m["task_type"]),
        method=_method(m["method"]),
        training_file_id=m["training_file_id"],
        hyperparameters=_hyperparameters(m["hyperparameters"]),
        dialect=m["dialect"],
        created_via=m["created_via"],
        status=_status(m["status"]),
        progress=Progress.from_dict(m["progress"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        queued_at=m["queued_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        output_path=m["output_path"],
        attempts=m["attempts"],
        deleted=m["deleted"],
        objective=_objective(m["objective"]),
        parent=Parent(m["parent_job_id"], m["parent_step"]) if m["parent_job_id"] else None,
        validation_file_id=m["validation_file_id"],
        output_name=m["output_name"],
        echo=dict(m["echo"] or {}),
        account=m["account"],
        created_by=m["created_by"],
        modified_by=m["modified_by"],
        group_id=m["group_id"],
        metadata=m["user_metadata"],
        error_kind=m["error_kind"],
        error_param=m["error_param"],
        model_deleted_at=m["model_deleted_at"],
        priority=m["priority"],
    )


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(tables.jobs.c.keys())
    if unknown:
        raise ValueError(f"unknown job columns: {sorted(unknown)}")
    return {k: (v.value if isinstance(v, JobStatus) else v) for k, v in fields.items()}


def _row(job: Job) -> dict[str, Any]:
    """The column values of a new job."""
    return dict(
        id=job.id,
        workspace_id=job.workspace_id,
        display_name=job.display_name,
        base_model=job.base_model,
        task_type=job.task_type.value,
        method=job.method.value,
        training_file_id=job.training_file_id,
        hyperparameters=job.hyperparameters.to_dict(),
        dialect=job.dialect,
        created_via=job.created_via,
        status=job.status.value,
        progress=job.progress.to_dict(),
        created_at=job.created_at,
        updated_at=job.updated_at,
        attempts=job.attempts,
        deleted=job.deleted,
        objective=job.objective.value,
        parent_job_id=job.parent.job_id if job.parent else None,
        parent_step=job.parent.step if job.parent else None,
        validation_file_id=job.validation_file_id,
        output_name=job.output_name,
        echo=dict(job.echo),
        account=job.account,
        created_by=job.created_by,
        modified_by=job.modified_by,
        group_id=job.group_id,
        user_metadata=job.metadata,
        model_deleted_at=job.model_deleted_at,
        priority=job.priority,
    )


_JOB_BY_ID = sa.select(tables.jobs).where(tables.jobs.c.id == sa.bindparam("job_id"))
"""Built once: building a select of every column costs more than running it."""
_GROUP_BY_ID = sa.select(tables.job_groups).where(
    tables.job_groups.c.id == sa.bindparam("group_id")
)


def _count(conn: sa.Connection, job: Job, delta: int) -> None:
    """Count a job just inserted (+1) in `job_counts`, in the insert's transaction."""
    if not job.deleted:
        _count_of(conn, job.workspace_id, job.base_model, delta)


def _count_of(conn: sa.Connection, workspace_id: str, base_model: str, delta: int) -> None:
    """Add `delta` to the workspace's live jobs of `base_model` (one upsert)."""
    t = tables.job_counts
    insert = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    row = insert.values(workspace_id=workspace_id, base_model=base_model, live=delta)
    key = [t.c.workspace_id, t.c.base_model]
    conn.execute(row.on_conflict_do_update(index_elements=key, set_={"live": t.c.live + delta}))


def _page_of(
    live: sa.ColumnElement[bool], *, offset: int, limit: int, total: int
) -> sa.Select[Any]:
    """The rows of one page (newest first) of the `total` jobs matching `live`: their ids
    from the listing index alone, walked from the newest end or, for a page in the older
    half, from the oldest end; then those rows."""
    t = tables.jobs
    newest = (t.c.created_at.desc(), t.c.id.desc())
    if offset + limit // 2 <= total // 2:
        ids = sa.select(t.c.id).where(live).order_by(*newest).offset(offset).limit(limit)
    else:
        take = min(limit, total - offset)
        ids = (
            sa.select(t.c.id)
            .where(live)
            .order_by(t.c.created_at.asc(), t.c.id.asc())
            .offset(total - offset - take)
            .limit(take)
        )
    return sa.select(t).where(t.c.id.in_(ids.scalar_subquery())).order_by(*newest)


_SINCE = sa.bindparam("claim_since", type_=tables.UTCDateTime())
"""Where the fair share's window of recent starts begins (a parameter of the claim)."""


def _next_queued() -> sa.Select[Any]:
    """The id of the QUEUED job the fair queue claims next (see `SqlJobs.claim_next`),
    without sorting the queue; recent starts are those since the `claim_since`
    parameter. First the workspace: per-workspace tallies that each read one index range
    and no row (waiting and the best priority from ix_jobs_claim's queued range, running
    from its active range, recent starts from ix_jobs_started), each waiting workspace's
    first job by one seek of ix_jobs_claim (status, workspace_id, priority, queued_at,
    id) at its best priority, and the workspaces ordered by their shares, then by that
    first job (priority desc, queued_at, id). Then the claim: from that first job's
    workspace and priority, the oldest job by one seek of the same index (on PostgreSQL
    the first one not locked)."""
    t = tables.jobs
    queued = JobStatus.QUEUED.value

    def tally(where: sa.ColumnElement[bool], name: str) -> sa.Subquery:
        count = sa.func.count().label("n")
        return (
            sa.select(t.c.workspace_id, count)
            .where(where)
            .group_by(t.c.workspace_id)
            .subquery(name)
        )

    waiting = (
        sa.select(
            t.c.workspace_id,
            sa.func.count().label("n"),
            sa.func.max(t.c.priority).label("top"),
        )
        .where(t.c.status == queued)
        .group_by(t.c.workspace_id)
        .subquery("waiting")
    )
    mine = t.alias("mine")
    first = (
        sa.select(mine.c.id)
        .where(
            mine.c.status == queued,
            mine.c.workspace_id == waiting.c.workspace_id,
            mine.c.priority == waiting.c.top,
        )
        .order_by(mine.c.queued_at, mine.c.id)
        .limit(1)
        .scalar_subquery()
    )
    heads = sa.select(waiting, first.label("first_id")).subquery("heads")
    running = tally(t.c.status.in_(_ACTIVE), "running")
    recent = tally(t.c.started_at >= _SINCE, "recent")
    best = t.alias("best")
    head = (
        sa.select(heads.c.first_id)
        .join(best, best.c.id == heads.c.first_id)
        .outerjoin(running, running.c.workspace_id == heads.c.workspace_id)
        .outerjoin(recent, recent.c.workspace_id == heads.c.workspace_id)
        .order_by(
            sa.func.coalesce(running.c.n, 0),
            sa.func.coalesce(recent.c.n, 0),
            heads.c.n,
            best.c.priority.desc(),
            best.c.queued_at,
            best.c.id,
        )
        .limit(1)
        .scalar_subquery()
    )
    anchor = t.alias("anchor")
    return (
        sa.select(t.c.id)
        .join_from(
            anchor,
            t,
            sa.and_(
                t.c.status == queued,
                t.c.workspace_id == anchor.c.workspace_id,
                t.c.priority == anchor.c.priority,
            ),
        )
        .where(anchor.c.id == head)
        .order_by(t.c.queued_at, t.c.id)
        .limit(1)
    )


_WAITING = (
    sa.select(tables.jobs.c.id).where(tables.jobs.c.status == JobStatus.QUEUED.value).limit(1)
)
"""Whether any job is queued (read before a claim: most ticks find none)."""


def _claim(row_locks: bool) -> sa.Update:
    """`UPDATE jobs … WHERE id = (the next queued job) RETURNING …` with the parameters
    `claim_since`, `claim_owner`, `claim_lease` and `claim_now` (see `claim_next`);
    with `row_locks` (PostgreSQL) the pick skips rows another transaction has locked."""
    t = tables.jobs
    pick = _next_queued()
    if row_locks:
        pick = pick.with_for_update(skip_locked=True, of=t)
    at = sa.bindparam("claim_now", type_=tables.UTCDateTime())
    return (
        t.update()
        .where(t.c.id == pick.scalar_subquery(), t.c.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            lease_owner=sa.bindparam("claim_owner", type_=t.c.lease_owner.type),
            lease_expires_at=sa.bindparam("claim_lease", type_=tables.UTCDateTime()),
            started_at=at,
            updated_at=at,
        )
        .returning(*t.c)
    )


def _unfinished(workspace_id: str) -> sa.Select[Any]:
    """The count of a workspace's unfinished jobs (neither terminal nor deleted)."""
    t = tables.jobs
    return (
        sa.select(sa.func.count())
        .select_from(t)
        .where(
            t.c.workspace_id == workspace_id,
            t.c.deleted.is_(False),
            t.c.status.not_in([s.value for s in TERMINAL]),
        )
    )


class _Repo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.reads = (
            engine
            if engine.dialect.name == "sqlite"  # its driver begins no transaction to read
            else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        """The same pool, for lone reads: no BEGIN before and no ROLLBACK after each one
        (two round trips of three on PostgreSQL)."""

    def _run(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        try:
            with self.engine.begin() as conn:
                return conn.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def _newest_first(
        self, table: sa.Table, where: sa.ColumnElement[bool], *, offset: int, limit: int
    ) -> tuple[list[sa.Row[Any]], int]:
        """One page of `table`'s rows matching `where` (created_at desc, id desc) and the
        count of all that match."""
        rows = self._rows(
            sa.select(table)
            .where(where)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        total = self._rows(sa.select(sa.func.count()).select_from(table).where(where))[0][0]
        return rows, int(total)

    def _keyset(
        self,
        table: sa.Table,
        where: sa.ColumnElement[bool],
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool,
    ) -> tuple[list[sa.Row[Any]], bool]:
        """Up to `limit` rows matching `where` strictly after the cursor in the stable
        order (created_at desc, id desc; reversed with `oldest_first`), and whether more
        follow. One more row than asked is read to know.

        The cursor is written `created_at <= X AND (created_at < X OR id < Y)`: its first
        half bounds the index range, so a deep cursor seeks instead of scanning from the
        start (a bare `OR` of the two cases is not an index range to SQLite)."""
        created, key = table.c.created_at, table.c.id
        if after is not None:
            if oldest_first:
                beyond = sa.and_(
                    created >= after.created_at,
                    sa.or_(created > after.created_at, key > after.id),
                )
            else:
                beyond = sa.and_(
                    created <= after.created_at,
                    sa.or_(created < after.created_at, key < after.id),
                )
            where = sa.and_(where, beyond)
        order = (created.asc(), key.asc()) if oldest_first else (created.desc(), key.desc())
        rows = self._rows(sa.select(table).where(where).order_by(*order).limit(limit + 1))
        return rows[:limit], len(rows) > limit

    def _rows(
        self, statement: sa.Select[Any], values: Mapping[str, Any] | None = None
    ) -> list[sa.Row[Any]]:
        try:
            with self.reads.connect() as conn:
                return list(conn.execute(statement, values))
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc


class SqlJobs(_Repo):
    """Jobs in SQL; every status change is `UPDATE … WHERE id = ? AND status = ?`."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self._by_id = lookup.Lookup(engine, _JOB_BY_ID, "job_id")
        self._claim = _claim(engine.dialect.name == "postgresql")
        """`claim_next`'s statement, built once: building it (SQLAlchemy's subquery
        column proxies) cost ~4 ms of CPU, on every scheduler tick of every replica."""

    def add(self, job: Job, *, max_active: int = 0) -> None:
        """Insert a new job. With `max_active`, the insert is `INSERT … SELECT … WHERE
        (unfinished jobs of the workspace) < max_active`: one statement, so SQLite (which
        runs one writer at a time) counts and inserts atomically; PostgreSQL first takes a
        transaction-scoped advisory lock on the workspace. A live job of the workspace with
        the same output name breaks the partial unique index `ux_jobs_workspace_output`."""
        t = tables.jobs
        values = _row(job)
        try:
            with self.engine.begin() as conn:
                if max_active <= 0:
                    conn.execute(t.insert().values(**values))
                    _count(conn, job, +1)
                    return
                if conn.dialect.name == "postgresql":
                    key = sa.func.hashtext(job.workspace_id)
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
                row = sa.select(*(sa.literal(v, t.c[k].type) for k, v in values.items()))
                under = _unfinished(job.workspace_id).scalar_subquery() < max_active
                insert = t.insert().from_select(list(values), row.where(under))
                if conn.execute(insert.returning(t.c.id)).first() is None:
                    raise errors.Throttled()
                _count(conn, job, +1)
        except sa.exc.IntegrityError as exc:
            if job.output_name and self.find_by_output_name(job.workspace_id, job.output_name):
                raise errors.Conflict(param="output_name") from exc
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def get(self, job_id: str) -> Job | None:
        """The job, deleted or not, or None (read on the driver's cursor: the hot path)."""
        row = self._by_id.one(job_id)
        return _job_of(row) if row is not None else None

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs among `job_ids` that exist, deleted or not, in one query (one id is
        read as `get` reads it)."""
        wanted = sorted(set(job_ids))
        if len(wanted) <= 1:
            found = self.get(wanted[0]) if wanted else None
            return {found.id: found} if found is not None else {}
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(tables.jobs).where(tables.jobs.c.id.in_(wanted)))
                return {job.id: job for job in map(_job, rows)}
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def page(
        self, workspace_id: str, *, offset: int, limit: int, base_model: str | None = None
    ) -> Page:
        """The workspace's live jobs (of one base model, if given), newest first.

        The total is read from `job_counts`, not counted; the page's ids are found by
        walking the listing index from whichever end is nearer (so at most half of it),
        then only those rows are read."""
        t, counts = tables.jobs, tables.job_counts
        live = sa.and_(t.c.workspace_id == workspace_id, t.c.deleted.is_(False))
        counted = sa.select(sa.func.coalesce(sa.func.sum(counts.c.live), 0)).where(
            counts.c.workspace_id == workspace_id
        )
        if base_model is not None:
            live = sa.and_(live, t.c.base_model == base_model)
            counted = counted.where(counts.c.base_model == base_model)
        try:
            with self.reads.connect() as conn:
                total = int(conn.execute(counted).scalar_one())
                rows: list[sa.Row[Any]] = []
                if offset < total:
                    page = _page_of(live, offset=offset, limit=limit, total=total)
                    rows = list(conn.execute(page))
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        return Page(items=[_job(r) for r in rows], total=total)

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        group_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Slice[Job]:
        """Live jobs (of one group, with these metadata pairs, if given) after the cursor,
        in the stable order."""
        t = tables.jobs
        where = sa.and_(t.c.workspace_id == workspace_id, t.c.deleted.is_(False))
        if group_id is not None:
            where = sa.and_(where, t.c.group_id == group_id)
        for key, value in (metadata or {}).items():
            where = sa.and_(where, t.c.user_metadata[key].as_string() == value)
        rows, more = self._keyset(t, where, after=after, limit=limit, oldest_first=oldest_first)
        return Slice([_job(r) for r in rows], more)

    def find_by_output_name(self, workspace_id: str, output_name: str) -> Job | None:
        """The workspace's live job with this output name, or None."""
        t = tables.jobs
        rows = self._rows(
            sa.select(t)
            .where(
                t.c.workspace_id == workspace_id,
                t.c.deleted.is_(False),
                t.c.output_name == output_name,
            )
            .limit(1)
        )
        return _job(rows[0]) if rows else None

    def with_status(self, status: JobStatus, *, limit: int = 100) -> list[Job]:
        """Jobs in a status, oldest first."""
        t = tables.jobs
        rows = self._rows(
            sa.select(t)
            .where(t.c.status == status.value)
            .order_by(t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [_job(r) for r in rows]

    def transition(
        self,
        job_id: str,
        expected: JobStatus,
        new: JobStatus,
        fence: Fence | None = None,
        /,
        **fields: Any,
    ) -> bool:
        """Compare-and-set the status (and the lease, when fenced); False when another
        writer got there first."""
        t = tables.jobs
        where = [t.c.id == job_id, t.c.status == expected.value]
        if fence is not None and fence.held_by is not None:
            where.append(t.c.lease_owner == fence.held_by)
        if fence is not None and fence.lapsed_by is not None:
            expiry = t.c.lease_expires_at
            where.append(sa.or_(expiry.is_(None), expiry <= fence.lapsed_by))
        result = self._run(t.update().where(*where).values(status=new.value, **_columns(fields)))
        return result.rowcount == 1

    def save_progress(self, job_id: str, progress: Progress, updated_at: datetime) -> None:
        """Overwrite the progress the worker reported."""
        t = tables.jobs
        self._run(
            t.update()
            .where(t.c.id == job_id)
            .values(progress=progress.to_dict(), updated_at=updated_at)
        )

    def mark_deleted(self, job_id: str, updated_at: datetime) -> None:
        """Hide the job from every listing and lookup (a job deleted already is left as
        it is); its workspace's count drops in the same transaction."""
        t = tables.jobs
        hide = (
            t.update()
            .where(t.c.id == job_id, t.c.deleted.is_(False))
            .values(deleted=True, updated_at=updated_at)
            .returning(t.c.workspace_id, t.c.base_model)
        )
        try:
            with self.engine.begin() as conn:
                hidden = conn.execute(hide).first()
                if hidden is not None:
                    _count_of(conn, hidden.workspace_id, hidden.base_model, -1)
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def set_priority(self, job_id: str, priority: int, updated_at: datetime) -> bool:
        """Change the priority unless the job is finished (compare-and-set on the status)."""
        t = tables.jobs
        result = self._run(
            t.update()
            .where(t.c.id == job_id, t.c.status.not_in([s.value for s in TERMINAL]))
            .values(priority=priority, updated_at=updated_at)
        )
        return result.rowcount == 1

    def delete_model(self, job_id: str, deleted_at: datetime) -> bool:
        """Set `model_deleted_at` if it is not set yet (compare-and-set)."""
        t = tables.jobs
        result = self._run(
            t.update()
            .where(t.c.id == job_id, t.c.model_deleted_at.is_(None))
            .values(model_deleted_at=deleted_at, updated_at=deleted_at)
        )
        return result.rowcount == 1

    def claim_next(self, owner: str, now: datetime, lease_until: datetime) -> Job | None:
        """Move the next QUEUED job to RUNNING under a lease, fairly across workspaces.

        The fair queue (the same in `MemoryJobs`): the job claimed comes from the workspace
        with the fewest running jobs (RUNNING, CANCELLING, PAUSING), then the fewest jobs
        started within `FAIR_SHARE_WINDOW` (a sliding-window fair share: workspaces take
        turns even when each job ends before the next claim), then the fewest waiting
        jobs; within it, the highest priority, then the oldest `queued_at`, then the id.

        One statement, `UPDATE jobs … WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING …`: on PostgreSQL concurrent claimers skip each other's rows instead of
        waiting; SQLite (one writer at a time, no row locks) runs the same UPDATE with the
        same order, the `status = 'queued'` guard making it a compare-and-set. When every
        queued row was locked (another claim, or a short write such as a cancel) the claim
        is tried again a few times before it reports none. A claim is not an attempt:
        `attempts` counts lost workers (see `Lifecycle.requeue`)."""
        values = {
            "claim_since": now - FAIR_SHARE_WINDOW,
            "claim_owner": owner,
            "claim_lease": lease_until,
            "claim_now": now,
        }
        try:
            for _ in range(_CLAIM_TRIES):
                with self.engine.begin() as conn:
                    if conn.execute(_WAITING).first() is None:
                        return None  # nothing queued: no write, no fair-share tallies
                    row = conn.execute(self._claim, values).first()
                    if row is not None:
                        return _job(row)
                time.sleep(0.01)  # every queued row was locked (a claim, a short write)
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        return None

    def renew_lease(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend the lease of a job this owner still holds (validating or with a worker)."""
        t = tables.jobs
        result = self._run(
            t.update()
            .where(t.c.id == job_id, t.c.lease_owner == owner, t.c.status.in_(_LEASED))
            .values(lease_expires_at=lease_until)
        )
        return result.rowcount == 1

    def expired_leases(self, now: datetime) -> list[Job]:
        """Leased jobs whose lease ran out, or that have none."""
        t = tables.jobs
        expiry = t.c.lease_expires_at
        rows = self._rows(
            sa.select(t).where(t.c.status.in_(_LEASED), sa.or_(expiry.is_(None), expiry < now))
        )
        return [_job(r) for r in rows]

    def active_count(self, workspace_id: str) -> int:
        """The workspace's unfinished jobs."""
        return int(self._rows(_unfinished(workspace_id))[0][0])

    def running_count(self) -> int:
        """How many jobs hold a worker now."""
        t = tables.jobs
        rows = self._rows(sa.select(sa.func.count()).select_from(t).where(t.c.status.in_(_ACTIVE)))
        return int(rows[0][0])

    def count_by_state(
        self, statuses: frozenset[JobStatus] | None = None
    ) -> dict[tuple[str, JobStatus], int]:
        """Live jobs per (workspace, status): one `GROUP BY` (over an index range of
        `status` when `statuses` are given)."""
        t = tables.jobs
        query = (
            sa.select(t.c.workspace_id, t.c.status, sa.func.count())
            .where(t.c.deleted.is_(False))
            .group_by(t.c.workspace_id, t.c.status)
        )
        if statuses is not None:
            query = query.where(t.c.status.in_(sorted(s.value for s in statuses)))
        rows: list[tuple[Any, ...]] = [tuple(r) for r in self._rows(query)]
        return {(str(w), JobStatus(s)): int(n) for w, s, n in rows}


class SqlFiles(_Repo):
    """File metadata in SQL."""

    def add(self, file: StoredFile) -> None:
        """Insert a file record."""
        self._run(
            tables.files.insert().values(
                id=file.id,
                workspace_id=file.workspace_id,
                filename=file.filename,
                bytes=file.bytes,
                sha256=file.sha256,
                purpose=file.purpose,
                blob_key=file.blob_key,
                truncated=file.truncated,
                created_at=file.created_at,
                description=file.description,
                deleted_at=file.deleted_at,
                status=file.status,
                status_details=file.status_details,
            )
        )

    def get(self, file_id: str) -> StoredFile | None:
        """The file record (deleted or not), or None."""
        rows = self._rows(sa.select(tables.files).where(tables.files.c.id == file_id))
        return StoredFile(**rows[0]._mapping) if rows else None

    def page(self, workspace_id: str, *, offset: int, limit: int) -> FilePage:
        """The workspace's live files, newest first."""
        t = tables.files
        where = sa.and_(t.c.workspace_id == workspace_id, t.c.deleted_at.is_(None))
        rows, total = self._newest_first(t, where, offset=offset, limit=limit)
        return FilePage(items=[StoredFile(**r._mapping) for r in rows], total=total)

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        purpose: str | None = None,
    ) -> Slice[StoredFile]:
        """Live files (of one purpose, if given) after the cursor, in the stable order."""
        t = tables.files
        where = sa.and_(t.c.workspace_id == workspace_id, t.c.deleted_at.is_(None))
        if purpose is not None:
            where = sa.and_(where, t.c.purpose == purpose)
        rows, more = self._keyset(t, where, after=after, limit=limit, oldest_first=oldest_first)
        return Slice([StoredFile(**r._mapping) for r in rows], more)

    def mark_deleted(self, file_id: str, deleted_at: datetime) -> None:
        """Hide the file from its workspace."""
        t = tables.files
        self._run(t.update().where(t.c.id == file_id).values(deleted_at=deleted_at))


def _group(row: sa.Row[Any]) -> JobGroup:
    return _group_of(row._mapping)


def _group_of(m: Mapping[Any, Any]) -> JobGroup:
    return JobGroup(
        id=m["id"],
        workspace_id=m["workspace_id"],
        name=m["name"],
        description=m["description"],
        base_model=m["base_model"],
        objective=Objective(m["objective"]),
        created_at=m["created_at"],
        created_by=m["created_by"],
        echo=dict(m["echo"] or {}),
        deleted=m["deleted"],
    )


class SqlGroups(_Repo):
    """Job groups in SQL."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self._by_id = lookup.Lookup(engine, _GROUP_BY_ID, "group_id")

    def add(self, group: JobGroup) -> None:
        """Insert a new group."""
        self._run(
            tables.job_groups.insert().values(
                id=group.id,
                workspace_id=group.workspace_id,
                name=group.name,
                description=group.description,
                base_model=group.base_model,
                objective=group.objective.value,
                created_at=group.created_at,
                created_by=group.created_by,
                echo=dict(group.echo),
                deleted=group.deleted,
            )
        )

    def get(self, group_id: str) -> JobGroup | None:
        """The group, deleted or not, or None (read on the driver's cursor: Qianfan's
        DescribeFineTuningTask reads it beside the job)."""
        row = self._by_id.one(group_id)
        return _group_of(row) if row is not None else None

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        base_model: str | None = None,
        objective: Objective | None = None,
    ) -> Slice[JobGroup]:
        """Live groups (of one base model and objective, if given) after the cursor."""
        t = tables.job_groups
        where = sa.and_(t.c.workspace_id == workspace_id, t.c.deleted.is_(False))
        if base_model is not None:
            where = sa.and_(where, t.c.base_model == base_model)
        if objective is not None:
            where = sa.and_(where, t.c.objective == objective.value)
        rows, more = self._keyset(t, where, after=after, limit=limit, oldest_first=oldest_first)
        return Slice([_group(r) for r in rows], more)

    def mark_deleted(self, group_id: str) -> None:
        """Hide the group from every listing and lookup."""
        t = tables.job_groups
        self._run(t.update().where(t.c.id == group_id).values(deleted=True))


_KEY_BY_HASH = sa.select(tables.api_keys).where(
    tables.api_keys.c.key_hash == sa.bindparam("key_hash")
)
_KEY_BY_ACCESS_KEY = sa.select(tables.api_keys).where(
    tables.api_keys.c.access_key == sa.bindparam("access_key")
)


class SqlKeys(_Repo):
    """Hashed API keys in SQL."""

    def add(self, key: ApiKey) -> None:
        """Insert a key record."""
        self._run(
            tables.api_keys.insert().values(
                id=key.id,
                workspace_id=key.workspace_id,
                key_prefix=key.key_prefix,
                key_hash=key.key_hash,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
                account=key.account,
                subaccount=key.subaccount,
                workspaces=list(key.workspaces),
                access_key=key.access_key,
                secret_sealed=key.secret_sealed,
            )
        )

    def find_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, or None."""
        return self._one(_KEY_BY_HASH, {"key_hash": key_hash})

    def find_by_access_key(self, access_key: str) -> ApiKey | None:
        """The AK/SK pair with this access key ID, or None."""
        return self._one(_KEY_BY_ACCESS_KEY, {"access_key": access_key})

    def _one(self, statement: sa.Select[Any], values: Mapping[str, Any]) -> ApiKey | None:
        rows = self._rows(statement, values)
        if not rows:
            return None
        fields = dict(rows[0]._mapping)
        return ApiKey(**{**fields, "workspaces": tuple(fields["workspaces"] or ())})


class SqlEvents(_Repo):
    """Job timelines in SQL; `seq` is assigned inside the INSERT so appends never collide
    (SQLite runs one writer at a time; PostgreSQL first takes a transaction-scoped advisory
    lock on the job, as concurrent READ COMMITTED inserts would read the same `max(seq)`)."""

    def append(
        self,
        job_id: str,
        *,
        created_at: datetime,
        level: str,
        type: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> JobEvent:
        """Add an event at the end of the job's timeline."""
        t = tables.job_events
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(t.c.seq), 0) + 1)
            .where(t.c.job_id == job_id)
            .scalar_subquery()
        )
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":  # appends to one job take turns
                        key = sa.func.hashtext(job_id)
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
                    seq = conn.execute(
                        t.insert()
                        .values(
                            job_id=job_id,
                            seq=next_seq,
                            created_at=created_at,
                            level=level,
                            type=type,
                            message=message,
                            data=data,
                        )
                        .returning(t.c.seq)
                    ).scalar_one()
                return JobEvent(job_id, int(seq), created_at, level, type, message, data)
            except sa.exc.IntegrityError:
                if attempt == 4:
                    raise errors.StorageError("could not append a job event") from None
            except sa.exc.SQLAlchemyError as exc:
                raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        raise AssertionError("unreachable")

    def list(self, job_id: str, *, after_seq: int = 0, limit: int = 100) -> list[JobEvent]:
        """Events after `after_seq`, oldest first."""
        t = tables.job_events
        rows = self._rows(
            sa.select(t)
            .where(t.c.job_id == job_id, t.c.seq > after_seq)
            .order_by(t.c.seq)
            .limit(limit)
        )
        return [JobEvent(**r._mapping) for r in rows]

    def latest(
        self, job_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> builtins.list[JobEvent]:
        """Events before `before_seq` (all, if None), newest first."""
        t = tables.job_events
        where = t.c.job_id == job_id
        if before_seq is not None:
            where = sa.and_(where, t.c.seq < before_seq)
        rows = self._rows(sa.select(t).where(where).order_by(t.c.seq.desc()).limit(limit))
        return [JobEvent(**r._mapping) for r in rows]

    def count(self, job_id: str) -> int:
        """How many events the job has."""
        t = tables.job_events
        rows = self._rows(sa.select(sa.func.count()).select_from(t).where(t.c.job_id == job_id))
        return int(rows[0][0])


class SqlBuckets(_Repo):
    """Bucket records in SQL (the secret keys sealed)."""

    def add(self, bucket: Bucket) -> None:
        """Insert a bucket; Conflict if its name or access key is taken."""
        statement = tables.buckets.insert().values(**dataclasses.asdict(bucket))
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except sa.exc.IntegrityError as exc:
            raise errors.Conflict(f"bucket {bucket.name} or its access key exists") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def get(self, name: str) -> Bucket | None:
        """The bucket with this name, or None."""
        rows = self._rows(sa.select(tables.buckets).where(tables.buckets.c.name == name))
        return Bucket(**rows[0]._mapping) if rows else None

    def owned_by(self, workspace_id: str) -> builtins.list[Bucket]:
        """The workspace's buckets, by name."""
        t = tables.buckets
        rows = self._rows(sa.select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.name))
        return [Bucket(**r._mapping) for r in rows]
