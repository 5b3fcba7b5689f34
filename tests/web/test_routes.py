"""The routes' structure: every job route takes its job from the one access rule, and that rule refuses
another browser's job on every route of every router (a new route is checked without a new test)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from web.conftest import FAST, NO_WEB_EXTRA, png_bytes, upload

pytest.importorskip("fastapi", reason=NO_WEB_EXTRA)

JOB_PREFIX = "/api/jobs/{job_id}"
#: Values for the other path parameters of job routes.
PATH_VALUES = {"index": "0", "which": "content"}


def api_routes(app: Any) -> list[Any]:
    """Every API route of ``app`` with its full path, dependencies and endpoint, routers included."""
    from fastapi.routing import APIRoute

    try:  # FastAPI >= 0.137 keeps an included router whole in app.routes; this walks into it
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI copies the routes into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]


def job_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, route) of every route under ``/api/jobs/{job_id}``, in matching order."""
    found = [(m, r.path, r) for r in api_routes(app) for m in sorted(r.methods) if r.path.startswith(JOB_PREFIX)]
    openapi = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops if p.startswith(JOB_PREFIX)}
    assert {(m, p) for m, p, _ in found} == openapi and len(found) >= 10, "the routes were not all found"
    return found


def dependency_calls(dependant: Any) -> list[Any]:
    """Every dependency callable of a route, sub-dependencies included."""
    calls, stack = [], list(dependant.dependencies)
    while stack:
        d = stack.pop()
        calls.append(d.call)
        stack.extend(d.dependencies)
    return calls


def refused(response: Any) -> bool:
    """The access rule's answer: 404 "no such job" (a route's own 404s, e.g. "not available", differ)."""
    return response.status_code == 404 and response.json() == {"detail": "no such job"}


def url(path: str, job_id: str, token: str | None = None) -> str:
    for name, value in {"job_id": job_id, **PATH_VALUES}.items():
        path = path.replace(f"{{{name}}}", value)
    return path + (f"?token={token}" if token else "")


@pytest.fixture
def app(tmp_path: Path) -> Any:
    from restyle.web.app import create_app

    return create_app(tmp_path / "data", workers=0)


def test_every_job_route_takes_its_job_from_owned_job(app: Any) -> None:
    from restyle.web.security import owned_job

    routes = job_routes(app)
    for method, path, route in routes:
        assert owned_job in dependency_calls(route.dependant), f"{method} {path} does not depend on owned_job"
        # the id reaches the route only through the dependency, checked
        assert "job_id" not in inspect.signature(route.endpoint).parameters, f"{method} {path} reads job_id itself"
    # /{which} matches every one-segment name: no job route may come after it
    which = [i for i, (_, path, _) in enumerate(routes) if path == f"{JOB_PREFIX}/{{which}}"]
    assert which == [len(routes) - 1], [p for _, p, _ in routes]


def test_the_routers_group_the_routes_by_concern(app: Any) -> None:
    from restyle.web.routes import ROUTERS

    modules = {r.endpoint.__module__.rsplit(".", 1)[-1] for r in api_routes(app)}
    assert modules == {"jobs", "job_files", "sweep_files", "server", "page"}
    assert len(ROUTERS) == len(modules)


def test_every_job_route_refuses_another_browsers_job(make_client) -> None:
    """For a run and a sweep: another browser gets 404 on every job route (as for a job that does not exist),
    a share link reads but never changes (403), a malformed id is 404, and the owner is never refused."""
    with make_client(workers=0) as client:
        files = {
            "content": ("a.png", png_bytes(seed=1), "image/png"),
            "style": ("b.png", png_bytes(seed=2), "image/png"),
        }
        sweep = client.post("/api/jobs", files=files, data={"config": json.dumps(FAST), "sweep": '["tv_weight=0.1,1"]'})
        assert sweep.status_code == 202, sweep.text
        jobs = [upload(client, FAST).json()["id"], sweep.json()["id"]]
        shares = {}
        for job_id in jobs:  # a final job: its event stream ends at once
            assert client.delete(f"/api/jobs/{job_id}").json()["state"] == "cancelled"
            shares[job_id] = client.get(f"/api/jobs/{job_id}").json()["urls"]["share"].split("token=")[1]
        routes = job_routes(client.app)
        owner = dict(client.cookies)
        client.cookies.clear()  # another browser
        for job_id in jobs:
            for method, path, _ in routes:
                for target in (url(path, job_id), url(path, "0" * 31), url(path, job_id, "x" * 32)):
                    r = client.request(method, target)
                    assert (r.status_code, r.json()) == (404, {"detail": "no such job"}), (method, target)
                r = client.request(method, url(path, job_id, shares[job_id]))
                if method == "GET":
                    assert not refused(r) and r.status_code != 403, (method, path, r.text)
                else:
                    assert r.status_code == 403 and "only the browser" in r.json()["detail"], (method, path)
        client.cookies.clear()
        client.cookies.update(owner)
        for job_id in jobs:
            for method, path, _ in routes:
                if method == "GET":
                    r = client.request(method, url(path, job_id))
                    assert not refused(r), (method, path, r.text)
            assert client.post(f"/api/jobs/{job_id}/resume").status_code == 202
