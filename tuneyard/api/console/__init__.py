"""The web console at `/console`: server-rendered pages (Jinja2, templates/) with small
scripts and a vendored uPlot (static/), served by the API process, working offline.

`router` holds every console route; app.py includes it, and renders the console's errors
with `render_error` (a page; a redirect to sign-in for a browser without a session).

Routes (K: foundation, jobs, job page, stream, compare; P: new job, files, deployments,
playground — see each module's docstring):
  GET  /console                         → /console/jobs
  GET  /console/signin                  sign-in form (API key, or AK + SK)
  POST /console/signin                  start a session (form CSRF from its own cookie)
  POST /console/signout                 end it
  POST /console/workspace               switch to another of the key's workspaces
  GET  /console/static/{path}           CSS, JS, vendor/uplot/ (uPlot 1.6.32, MIT)
  GET  /console/jobs                    the jobs list (?status, model, q, marker, limit)
  GET  /console/jobs.json               the same rows as JSON (the list polls it)
  GET  /console/jobs/{id}               the job page
  GET  /console/jobs/{id}/stream        SSE: points/log/job/end/gone (Last-Event-ID,
                                        ?after=N, ?follow=0, ?displayToken=…)
  POST /console/jobs/{id}/{action}      cancel | pause | resume | delete | export
                                        (step, merged=1) | continue (step)
  GET  /console/compare?job=A&job=B     compare two or more jobs (a picker with fewer)
  GET  /console/curves?displayToken=…   the job page read-only (Qianfan's vdlLink)
  /console/jobs/new…, /console/files…, /console/deployments…, /console/playground…  (P)

Every page but sign-in and the read-only view needs a session (`session.UserDep`);
every POST/DELETE needs the CSRF token (`session.ChangeDep`: hidden field `csrf`, or
header `X-CSRF-Token`). Pages carry a strict CSP: no inline script or style.

Element ids browser tests may rely on:
  layout     nav, nav-jobs, nav-new-job, nav-compare, nav-files, nav-deployments,
             nav-playground, workspace-form, workspace-select, workspace-switch,
             workspace-name, signout-form, signout, read-only-badge, main;
             <meta name="csrf-token">
  sign-in    signin-form, api-key, access-key, secret-key, signin-submit, signin-error
  errors     error-title, error-message
  jobs list  jobs-filters, filter-status, filter-model, filter-q, filter-apply,
             filter-clear, compare-selected, jobs-live, jobs-table, jobs-body (rows
             `tr[data-job-id]`, `a.job-link`, `span.job-status`, `input.compare-pick`),
             jobs-empty, page-next, page-first
  job page   job-title, job-id, job-notice, job-status, job-progress, job-step,
             job-epoch, job-throughput, job-eta, job-model, job-method, job-finished,
             job-error, job-actions, action-pause, action-resume, action-cancel,
             action-delete (forms `form.confirm`: a confirm() first), compare-link,
             stream-status, chart-loss, chart-valid, chart-accuracy, chart-lr,
             checkpoints-table, checkpoints-body (rows `tr.checkpoint-row[data-step]`
             with `button.export-adapter`, `button.export-merged`,
             `button.continue-from`, `a.deploy-link`), final-model-row, export-final,
             export-final-merged, continue-final, deploy-final, final-metrics
             (`div[data-metric]`), hyperparameters (`tr[data-name]`), job-timeline,
             validation-report (`table.report-issues tr.issue[data-line][data-reason]`),
             event-log (`li[data-seq]`), log-filter, log-search, log-follow;
             `window.tyChartPoints`: points on the charts so far
  compare    compare-form, compare-submit, compare-status, compare-loss,
             compare-valid, compare-setup, compare-metrics, compare-hyperparameters
             (`tr.diff`: values differ); `window.tyCompareReady` once drawn
"""

from __future__ import annotations

from fastapi import APIRouter

from tuneyard.api.console import (
    actions,
    assets,
    compare,
    deployments,
    files,
    job,
    jobs,
    newjob,
    playground,
    signin,
    stream,
)
from tuneyard.api.console.routes import CURVES, PREFIX, render_error

__all__ = ["CURVES", "PREFIX", "render_error", "router"]

router = APIRouter()
"""Every console route. P's modules come first: `/console/jobs/new` is theirs, not a job."""
for _module in (
    newjob,
    files,
    deployments,
    playground,
    signin,
    assets,
    jobs,
    stream,
    compare,
    job,
    actions,
):
    router.include_router(_module.router)
