"""A run's workdir: one run at a time (a lock), and no state left behind by
a run that failed before its first checkpoint."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from typing import Iterator

from absl import logging

LOCK = 'run.lock'


class WorkdirBusy(RuntimeError):
  """Another live run holds the workdir."""


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[None]:
  """Holds ``<workdir>/run.lock`` for the duration of the block.

  A second run on the same workdir is refused with a message naming the
  holder (pid, host, start time). A lock left by a crashed run on this host
  (its process is gone) is taken over, with a log line; a lock from another
  host cannot be checked and is refused with instructions.
  """
  path = os.path.join(workdir, LOCK)
  me = {'pid': os.getpid(), 'host': socket.gethostname(),
        'started': datetime.datetime.now().isoformat(timespec='seconds')}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      try:
        with open(path) as f:
          holder = json.load(f)
      except (OSError, ValueError):
        holder = {}
      pid, host = holder.get('pid'), holder.get('host')
      if host == me['host'] and isinstance(pid, int) and not _alive(pid):
        logging.warning('Taking over the stale lock of pid %d (no longer '
                        'running) in %s.', pid, workdir)
        os.remove(path)
        continue
      raise WorkdirBusy(
          f'{workdir} is in use by another run (pid {pid} on host {host}, '
          f'started {holder.get("started")}). Wait for it, use another '
          f'--workdir, or, if that run is dead, delete {path}.') from None
    with os.fdopen(fd, 'w') as f:
      json.dump(me, f)
    break
  try:
    yield
  finally:
    try:
      os.remove(path)
    except FileNotFoundError:
      pass
