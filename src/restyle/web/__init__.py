"""The web app of ``restyle serve`` (needs the ``web`` extra: ``pip install -e '.[web]'``).

* :mod:`restyle.web.app` -- :func:`~restyle.web.app.create_app`: assembles the FastAPI app (routers,
  middleware, the worker pool's lifetime);
* :mod:`restyle.web.routes` -- the routes, one APIRouter per concern (jobs, job files, sweep files,
  server info, the page);
* :mod:`restyle.web.state` -- what the routes share (store, pool, limits, data folder), a dependency;
* :mod:`restyle.web.security` -- the owner cookie, the one job-access dependency, the body limit;
* :mod:`restyle.web.views` -- the JSON the API shows of a job (URLs, progress, ETA, a sweep's grid);
* :mod:`restyle.web.uploads` -- a new job's form: images sniffed by content and limited, JSON fields;
* :mod:`restyle.web.store` -- the SQLite job store shared by the server and its workers;
* :mod:`restyle.web.worker` -- worker processes running each web job as a Job on a LocalExecutor;
* :mod:`restyle.web.schema` -- the settings form's schema from RunConfig, and the server's limits;
* :mod:`restyle.web.sweeps` -- a client's sweep axes, checked and planned by the library's sweep code;
* ``static/`` -- the page (plain HTML, CSS and JavaScript; nothing is loaded from elsewhere).

FastAPI is imported by the server's modules only (app, routes, state, security, views, uploads); the
worker processes (worker, store, schema, sweeps) do not import it.
"""
