"""Who may see and change what: the owner cookie, the one job-access rule, and the request body limit.

* Each browser gets an unguessable owner token in an HttpOnly cookie (:func:`owner_cookie`, a middleware);
  a route that needs it without a job takes ``owner: Owner``.
* Every route under ``/api/jobs/{job_id}`` takes its job as ``job: OwnedJob`` (:func:`owned_job`), the one
  place of the rules: the id must look like a server-made id (32 hex digits), the job must exist, and the
  browser must own it or the link must carry its share token (``?token=...``) -- else 404, the same
  answer as for a job that does not exist. A share token only reads: a request that changes something
  (any method but GET/HEAD/OPTIONS) needs the owner (403). ``tests/web/test_routes.py`` checks that every
  job route depends on :func:`owned_job`.
* :class:`BodyLimit` refuses request bodies above a byte limit (413), by header and while streaming.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from restyle.web.state import State

__all__ = ["OWNER_COOKIE", "BodyLimit", "JobAccess", "Owner", "OwnedJob", "browser_owner", "owned_job", "owner_cookie"]

OWNER_COOKIE = "restyle_owner"
_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
#: Methods that only read: a share token is enough for them.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def owner_cookie(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: ``request.state.owner`` is the browser's owner token, a fresh one set as a cookie."""
    token = request.cookies.get(OWNER_COOKIE, "")
    fresh = not _TOKEN.match(token)
    request.state.owner = secrets.token_urlsafe(24) if fresh else token
    response = await call_next(request)
    if fresh:
        response.set_cookie(
            OWNER_COOKIE, request.state.owner, max_age=365 * 86400, httponly=True, samesite="lax", path="/"
        )
    return response


def browser_owner(request: Request) -> str:
    """FastAPI dependency: this browser's owner token (set by :func:`owner_cookie`)."""
    return request.state.owner


#: A route's parameter ``owner: Owner`` receives this browser's owner token.
Owner = Annotated[str, Depends(browser_owner)]


@dataclass(frozen=True)
class JobAccess:
    """A job a request may see: its store row, whether the browser owns it, and its folder."""

    row: dict[str, Any]
    owner: bool  #: False: seen through its share token (read-only)
    folder: Path

    @property
    def id(self) -> str:
        """The job's id (checked: 32 hex digits)."""
        return str(self.row["id"])

    def file(self, name: str) -> Path:
        """The job's file ``name`` (a server-made name, never a client's); 404 while it does not exist."""
        path = self.folder / name
        if not path.is_file():
            raise HTTPException(404, "not available")
        return path


def owned_job(job_id: str, request: Request, state: State, token: str | None = None) -> JobAccess:
    """FastAPI dependency of every job route: the job if this browser owns it or ``token`` is its share token.

    404 for a malformed id, a missing job, or someone else's job without its token; 403 when a share
    token's holder tries to change the job (any method but GET/HEAD/OPTIONS)."""
    if not _ID.match(job_id):
        raise HTTPException(404, "no such job")
    row = state.store.get(job_id)
    if row is None:
        raise HTTPException(404, "no such job")
    owner = secrets.compare_digest(row["owner"], request.state.owner)
    shared = token is not None and secrets.compare_digest(row["share"], token)
    if not (owner or shared):
        raise HTTPException(404, "no such job")
    if request.method not in READ_METHODS and not owner:
        raise HTTPException(403, "only the browser that started this job can change it")
    return JobAccess(row, owner, state.job_dir(job_id))


#: A job route's parameter ``job: OwnedJob`` receives the job, checked by :func:`owned_job`.
OwnedJob = Annotated[JobAccess, Depends(owned_job)]


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the upload is larger than this server's limit of {limit / 1e6:g} MB")


class BodyLimit:
    """ASGI middleware: refuse request bodies above ``limit`` bytes (413), by header and while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await JSONResponse({"detail": _TooLarge(self.limit).detail}, 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge(self.limit)
            return message

        await self.app(scope, limited, send)
