"""One background writer for the per-task saves.

After each task every process starts its checkpoint (orbax copies its own
shards of the state to the host and, off the CPU, writes them in its own
thread: :mod:`mpl_jax.train.checkpoint`) and hands the rest to
:class:`BackgroundWriter`: waiting for that checkpoint and writing its
manifest, then (process 0) the outputs and TensorBoard from a copy of the
run record, so the files are written while the devices run the next task.
Jobs run one at a time, in order; a new job waits for the previous one, so
at most one task's save is ever pending and a failed save is raised on the
next :meth:`submit` or :meth:`wait` (it is never silently dropped).
:meth:`wait` before reading what was saved (resume messages, the end of the
run).
"""

from __future__ import annotations

import concurrent.futures
from typing import Callable, Optional

from absl import logging


class BackgroundWriter:
  """Runs host jobs in one worker thread, one pending job at most."""

  def __init__(self, enabled: bool = True):
    self.enabled = enabled  # False: jobs run inline, in submit()
    self._pool = (concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix='mpl_jax-save') if enabled
                  else None)
    self._pending: Optional[concurrent.futures.Future] = None

  def submit(self, job: Callable[[], None]) -> None:
    """Runs ``job`` after the previous one (inline when disabled)."""
    self.wait()
    if not self.enabled:
      job()
    else:
      self._pending = self._pool.submit(job)

  def wait(self) -> None:
    """Blocks until the pending job is done; raises its error, if any."""
    pending, self._pending = self._pending, None
    if pending is not None:
      pending.result()

  def close(self, *, failing: bool = False) -> None:
    """Waits for the pending job and stops the thread. With ``failing``
    (another error is already propagating) a failed save is logged instead
    of raised, so it does not hide that error."""
    try:
      self.wait()
    except Exception as e:  # pylint: disable=broad-except
      if not failing:
        raise
      logging.error('The last save failed too: %r', e)
    finally:
      if self._pool is not None:
        self._pool.shutdown(wait=True)
