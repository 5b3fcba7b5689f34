"""The web app of ``restyle serve`` (needs the ``web`` extra: ``pip install -e '.[web]'``).

* :mod:`restyle.web.app` -- :func:`~restyle.web.app.create_app`, the FastAPI app (API, page, lifetime);
* :mod:`restyle.web.store` -- the SQLite job store shared by the server and its workers;
* :mod:`restyle.web.worker` -- worker processes running each web job as a Job on a LocalExecutor;
* :mod:`restyle.web.schema` -- the settings form's schema from RunConfig, and the server's limits;
* :mod:`restyle.web.sweeps` -- a client's sweep axes, checked and planned by the library's sweep code;
* ``static/`` -- the page (plain HTML, CSS and JavaScript; nothing is loaded from elsewhere).

Only :mod:`restyle.web.app` imports FastAPI; the worker processes do not.
"""
