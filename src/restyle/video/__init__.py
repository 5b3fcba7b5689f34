"""``restyle video``: stylise a clip with temporal consistency (Ruder, Dosovitskiy & Brox, GCPR 2016).

* :mod:`restyle.video.settings` -- :class:`VideoSettings` (which frames, temporal weight, per-frame schedule);
* :mod:`restyle.video.io` -- decode/encode with PyAV (audio copied), animated GIF/WebP with Pillow;
* :mod:`restyle.video.flow` -- optical flow (OpenCV), warping, occlusion masks, temporal error;
* :mod:`restyle.video.driver` -- :func:`~restyle.video.driver.stylize_video`: one Job per frame on an executor;
* :mod:`restyle.video.events` -- the events it adds for displays.

``settings`` and ``events`` import without the ``video`` extra (``pip install 'restyle[video]'``:
PyAV and OpenCV); the others need it. Nothing is imported here, so the CLI can load the settings alone.
"""
