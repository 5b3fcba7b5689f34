"""The web app's routes, one :class:`fastapi.APIRouter` per concern; :func:`~restyle.web.app.create_app`
includes :data:`ROUTERS` in order.

* :mod:`~restyle.web.routes.jobs` -- create, list, read, follow (events), resume, cancel/delete a job;
* :mod:`~restyle.web.routes.sweep_files` -- a sweep's cells, contact sheet and tables;
* :mod:`~restyle.web.routes.job_files` -- a job's result, preview, settings and uploads;
* :mod:`~restyle.web.routes.server` -- the settings' schema, the examples, ``/healthz``;
* :mod:`~restyle.web.routes.page` -- the page and ``/docs`` (the static files are mounted by the app).

A route reaches the shared parts as ``state: State`` (:mod:`restyle.web.state`); a route under
``/api/jobs/{job_id}`` takes its job as ``job: OwnedJob`` (:mod:`restyle.web.security`), never by its id.
A new router goes in :data:`ROUTERS` before ``job_files`` if it has routes under ``/api/jobs/{job_id}/``.
"""

from __future__ import annotations

from fastapi import APIRouter

from restyle.web.routes import job_files, jobs, page, server, sweep_files

__all__ = ["ROUTERS"]

#: In the order they are included: ``job_files`` after the other job routers, as its ``/{which}``
#: (``content`` or ``style``) matches every one-segment name under ``/api/jobs/{job_id}/``.
ROUTERS: tuple[APIRouter, ...] = (jobs.router, sweep_files.router, job_files.router, server.router, page.router)
