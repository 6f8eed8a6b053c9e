"""What ZeroG prints: percentages, and no library progress bars for steps that take a second."""

import contextlib
import signal

from transformers.utils import logging as hf_logging


def percent(value) -> str:
    """A fraction as a percentage with one decimal, or `-` for None (nothing to score)."""
    return "-" if value is None else f"{100 * value:.1f}%"


@contextlib.contextmanager
def quiet_progress_bars():
    """Hides the progress bars of transformers (loading weights) and datasets (saving a cache entry) for
    the steps inside, and restores them after; ZeroG's own encoding bar is shown outside such steps."""
    import datasets  # imported where a cache entry is written, not with the CLI

    hf_enabled, ds_enabled = hf_logging.is_progress_bar_enabled(), not datasets.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_enabled:
            hf_logging.enable_progress_bar()
        if ds_enabled:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (`kill`, a scheduler stopping a job) ends the steps inside as Ctrl-C does: cleanup runs (temporary
    files, a claimed output folder) and the command exits 130 with one line; the handler is restored after."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
