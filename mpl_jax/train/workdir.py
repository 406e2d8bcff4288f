"""A run's workdir: checked before anything is trained, held by one run at a
time, and never left claimed by another config.

Order at the start of a run (:func:`mpl_jax.train.train.train_and_evaluate`):
:func:`prepare` (the path names a usable, writable folder), :func:`locked`,
:func:`check_config` (against ``config.json`` and the newest checkpoint;
``config.json`` is written only once both agree), :func:`check_writable`
(every folder the run writes to), then the first compile.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import tempfile
from typing import Iterator, Optional

from absl import logging

from mpl_jax import config_checks
from mpl_jax.train import checkpoint as ckpt_lib

LOCK = 'run.lock'
CONFIG = 'config.json'


class WorkdirBusy(RuntimeError):
  """Another live run holds the workdir."""


class WorkdirError(ValueError):
  """The workdir cannot be used (not a folder, not writable)."""


def prepare(workdir: str) -> None:
  """Creates ``workdir``; raises :class:`WorkdirError` in one line if it is
  empty, names a file, or cannot be written."""
  if not workdir or not str(workdir).strip():
    raise WorkdirError('--workdir is empty: name a folder for the outputs.')
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f'--workdir={workdir} is a file, not a folder.')
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f'cannot create --workdir={workdir}: '
                       f'{e.strerror or e}.') from None
  check_writable([workdir])


def check_writable(folders, files=()) -> None:
  """Raises :class:`WorkdirError` naming the first of ``folders`` (created
  if missing) where a file cannot be created, or of the existing ``files``
  that cannot be appended to. Probes by writing (``os.access`` says yes to
  root on a read-only folder)."""
  for d in folders:
    try:
      os.makedirs(d, exist_ok=True)
      fd, probe = tempfile.mkstemp(prefix='.write_probe', dir=d)
      os.close(fd)
      os.remove(probe)
    except OSError as e:
      raise WorkdirError(f'{d} is not writable ({e.strerror or e}); the run '
                         'would fail after training a task.') from None
  for f in files:
    if os.path.exists(f):
      try:
        with open(f, 'ab'):
          pass
      except OSError as e:
        raise WorkdirError(f'{f} is not writable ({e.strerror or e}).'
                           ) from None


def _describe(text: str) -> str:
  if not text.strip():
    return ('its lock file is empty: the run holding it is starting, or '
            'wrote nothing')
  try:
    holder = json.loads(text)
    if not isinstance(holder, dict):
      raise ValueError
  except ValueError:
    return f'its lock file is unreadable: {text[:80]!r}'
  return (f'pid {holder.get("pid")} on host {holder.get("host")}, started '
          f'{holder.get("started")}')


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[None]:
  """Holds ``<workdir>/run.lock`` (``fcntl.flock``) for the block.

  A second run on the same workdir is refused with a message naming the
  holder (pid, host, start time, written and fsynced into the lock file).
  The kernel releases the lock when its process dies, so a crashed run
  leaves nothing to clean up. The file is removed on release; a run that
  locked a file just removed by its releasing holder tries again.
  """
  path = os.path.join(workdir, LOCK)
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES):
        os.close(fd)
        raise
      try:
        text = os.read(fd, 4096).decode(errors='replace')
      except OSError:
        text = ''
      os.close(fd)
      raise WorkdirBusy(
          f'{workdir} is in use by another run ({_describe(text)}). Wait for '
          'it or use another --workdir.') from None
    try:
      same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  old = os.read(fd, 4096).decode(errors='replace')
  if old.strip():
    logging.info('%s: the previous run (%s) ended without releasing its '
                 'lock; taking it.', workdir, _describe(old))
  me = {'pid': os.getpid(), 'host': socket.gethostname(),
        'started': datetime.datetime.now().isoformat(timespec='seconds')}
  os.ftruncate(fd, 0)
  os.pwrite(fd, json.dumps(me).encode(), 0)
  os.fsync(fd)
  try:
    yield
  finally:
    try:
      os.remove(path)
    except FileNotFoundError:
      pass
    os.close(fd)


def config_json(config) -> dict:
  """The config as plain JSON (what ``config.json`` holds)."""
  return json.loads(config.to_json_best_effort())


def check_config(workdir: str, config: dict,
                 ckpt: Optional[ckpt_lib.Checkpointer],
                 write: bool = True) -> bool:
  """Refuses a workdir of another config, then writes ``config.json``.

  Compared with ``config.json`` (if present) and with the config stored in
  the newest readable checkpoint (so deleting ``config.json`` does not let
  another config resume); a mismatch raises
  :class:`~mpl_jax.train.checkpoint.ConfigMismatch` in one line naming the
  differing leaf fields (``optimizer.learning_rate: 0.005 -> 0.01``).
  Nothing is written before both checks pass.

  Returns:
    True if this call wrote ``config.json`` (a new run).
  """
  path = os.path.join(workdir, CONFIG)
  if os.path.exists(path):
    try:
      with open(path) as f:
        old = json.load(f)
    except (OSError, ValueError) as e:
      raise WorkdirError(f'{path} is unreadable ({e}); restore it or use a '
                         'new --workdir.') from None
    diff = ckpt_lib.config_diff(old, config)
    if diff:
      raise ckpt_lib.ConfigMismatch(
          f'{workdir} holds a run of a different config '
          f'({config_checks.describe_diff(diff)}): use a new --workdir, or the config that '
          'wrote it to resume.')
  if ckpt is not None:
    ckpt.check_config(config)
  if os.path.exists(path) or not write:
    return False
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(config, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  return True
