"""The job system: jobs and their files, executors (local, Ray), batch planning, sweeps and sheets, the quality
report, the ``--dry-run`` plan, the remaining-time estimate, signals, and the job events.

It runs the engine (:mod:`restyle.engine`: the optimisation of one image) for many jobs; the engine never
imports it (``tests/test_imports.py`` checks).
"""
