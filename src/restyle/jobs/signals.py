"""Graceful stop on Ctrl-C (SIGINT) and SIGTERM for long runs.

>>> stylizer = Stylizer(config)                                   # doctest: +SKIP
>>> with GracefulStop(stylizer.request_stop) as stop:             # doctest: +SKIP
...     result = stylizer.run(content, style)
>>> if stop.requested:                                            # doctest: +SKIP
...     save_checkpoint(result.checkpoint, "out.ckpt")

The first signal only *asks* the run to stop (it returns after the current step with
``result.interrupted`` and a checkpoint); a second one aborts at once by raising
:class:`Aborted` (a ``KeyboardInterrupt``). The handlers that were installed before
(a library user's own, or Python's default) are restored when the block exits.
Outside the main thread signal handlers cannot be installed, and the block does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

#: The signals handled by default.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class Aborted(KeyboardInterrupt):
    """Raised by a second stop signal: abort now without saving. ``exit_code`` is 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"aborted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


class GracefulStop:
    """Context manager that turns the first SIGINT/SIGTERM into ``on_stop()`` and the second into :class:`Aborted`.

    Args:
        on_stop: called (from the signal handler) on the first signal, e.g. ``stylizer.request_stop``.
            It must be quick and must not raise; :meth:`Stylizer.request_stop` only sets a flag.
            More targets can be added later with :attr:`on_stop` (e.g. a new Stylizer in a batch).
        signals: which signals to handle.

    Attributes:
        signum: the first signal received, or None.
    """

    def __init__(
        self, on_stop: Callable[[], None] | None = None, signals: tuple[signal.Signals, ...] = STOP_SIGNALS
    ) -> None:
        self.on_stop = on_stop
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal has arrived."""
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        """The conventional exit status of a process ended by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum if self.signum is not None else signal.SIGINT)

    @property
    def signal_name(self) -> str:
        """``"SIGINT"``, ``"SIGTERM"``, or ``""`` when no signal arrived."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Aborted(signum)
        self.signum = signum
        if self.on_stop is not None:
            self.on_stop()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
