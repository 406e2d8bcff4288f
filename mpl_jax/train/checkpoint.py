"""Checkpoints of a run's full state: orbax shards plus a verified manifest.

Why orbax: a run's state is laid over every device of every process
(:mod:`mpl_jax.train.program`). ``orbax.checkpoint.CheckpointManager``
writes each process's own shards (tensorstore, OCDBT), so no process ever
holds the whole state (64 seeds of a 4096-4096 BNN with Adam moments are ~17
GB); off the CPU it copies the shards to the host and writes them in a
background thread (``async_save``); it restores every array straight onto
the sharding of a template. It writes each step into a temporary folder
renamed when complete (a kill mid-write leaves no step). The last
``max_to_keep`` steps are kept (older ones renamed away, then removed in a
thread: orbax's inline delete more than doubled a save's time on CPU).

What orbax does not give, and this module adds beside its files: a content
checksum. Once orbax has finished step ``N`` (folder ``step_<NNNNNN>``),
each process hashes (SHA-256) the files it wrote (those under a
``*process_<p>`` folder; process 0 also every file of no process) and writes
them, atomically, to ``manifest.process_<p>.json``; process 0's
``manifest.json`` also holds the step, the process count, the config that
wrote it (and the SHA-256 of its canonical JSON), every leaf's path, shape
and dtype, and a SHA-256 of itself. A step is intact when its manifests read
back, verify, and every listed file has its hash: a kill before the
manifests, a truncated file, a same-size bit flip (which orbax would read
back as other numbers), a manifest that is not a JSON object all read as
damage. Each process checks the manifests of its share of the processes that
wrote the step, and all agree before one is used. On restore the newest
intact step wins: each damaged newer one is reported in one log line (its
task and why) and deleted; when none is left, "no intact checkpoint left,
starting from task 1" is said. A checkpoint of another config or tree
refuses to resume, with one line naming the differing fields
(:meth:`Checkpointer.check_config`).

Restoring needs a template tree (any pytree: ``jax.Array`` leaves are
restored onto their sharding, others as numpy).

Tests kill the process at a save point with
``MPL_JAX_KILL_AT=<point>:<step>`` (points ``save``, ``written``,
``manifest``; ``job``, after the outputs of that task, in
:mod:`mpl_jax.train.train`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import threading
from typing import Any, Callable, Optional

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from jax.experimental import multihost_utils

from mpl_jax import config_checks
from mpl_jax.config_checks import config_diff

MANIFEST = 'manifest.json'
_OWNER = re.compile(r'(?:^|\.)process_(\d+)$')
_ITEM = 'tree'
_PRUNED = '.pruned_step_'


class CheckpointDamaged(ValueError):
  """A checkpoint is incomplete or does not match its manifest."""


class ConfigMismatch(ValueError):
  """The workdir holds a run of another config."""


def kill_point(point: str, step: int) -> None:
  """Test hook: SIGKILL this process at ``MPL_JAX_KILL_AT=<point>:<step>``."""
  if os.environ.get('MPL_JAX_KILL_AT') == f'{point}:{step}':
    os.kill(os.getpid(), signal.SIGKILL)


def canonical(obj: Any) -> str:
  return json.dumps(obj, sort_keys=True, separators=(',', ':'))


def sha256_json(obj: Any) -> str:
  return hashlib.sha256(canonical(obj).encode()).hexdigest()


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def _write_json(path: str, obj: Any) -> None:
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(obj, f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _leaves(tree: Any) -> list[dict]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return [dict(path=jax.tree_util.keystr(p), shape=list(np.shape(x)),
               dtype=str(x.dtype)) for p, x in flat]


def _owner(rel: str) -> int:
  for part in rel.split(os.sep):
    m = _OWNER.search(part)
    if m:
      return int(m.group(1))
  return 0


def _host_leaf(x: Any) -> Any:
  return x if isinstance(x, jax.Array) else np.asarray(x)


class Checkpointer:
  """Keeps the last ``max_to_keep`` checkpoints of a run under ``directory``.

  Args:
    directory: the checkpoints folder (created).
    max_to_keep: steps kept.
    config: the JSON of the run's config, stored in (and checked against)
      every checkpoint; None stores none.
    async_save: write in orbax's background thread (:meth:`save` returns
      once the shards are copied to the host; :meth:`wait` finishes).
  """

  def __init__(self, directory: str, max_to_keep: int = 2, *,
               config: Optional[dict] = None, async_save: bool = False):
    self.directory = os.path.abspath(directory)
    self.config = config
    self.max_to_keep = max_to_keep
    self._pending: Optional[tuple[int, list[dict]]] = None
    self._pruning: list[threading.Thread] = []
    # Pruning is done here (:meth:`_prune`), not by orbax: its inline delete
    # took 0.55 s a save on the quickstart's state (CPU, under load) against
    # 0.31 s without; its background delete leaves a half-deleted step
    # listed as a step.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None, create=True, step_prefix='step',
        step_format_fixed_length=6, cleanup_tmp_directories=True,
        enable_async_checkpointing=async_save)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_names=(_ITEM,))
    if jax.process_index() == 0:
      # Left by a kill while pruning, or during orbax's write: removed here,
      # before anything reads the folder (orbax's own clean-up of its
      # temporary folders may still be running when the constructor
      # returns).
      for name in os.listdir(self.directory):
        if name.startswith(_PRUNED) or '.orbax-checkpoint-tmp' in name:
          shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

  def steps(self) -> list[int]:
    """Steps orbax holds as complete (not yet verified), oldest first."""
    self._manager.reload()
    return sorted(self._manager.all_steps())

  def _path(self, step: int) -> str:
    return os.path.join(self.directory, f'step_{step:06d}')

  # -- saving ----------------------------------------------------------------
  def save(self, step: int, tree: Any) -> None:
    """Starts writing ``tree`` as checkpoint ``step`` (every process calls
    it; each writes its own shards). :meth:`wait` completes it."""
    kill_point('save', step)
    self.wait()
    tree = jax.tree.map(_host_leaf, tree)
    self._manager.save(step, args=ocp.args.Composite(
        **{_ITEM: ocp.args.StandardSave(tree)}), force=True)
    self._pending = (step, _leaves(tree))

  def wait(self) -> None:
    """Waits for the pending save, then writes this process's manifest."""
    self._manager.wait_until_finished()
    if self._pending is None:
      return
    step, leaves = self._pending
    self._pending = None
    kill_point('written', step)
    me, count = jax.process_index(), jax.process_count()
    path = self._path(step)
    files = {}
    for root, _, names in os.walk(path):
      for name in names:
        rel = os.path.relpath(os.path.join(root, name), path)
        ours = rel == name and name.startswith('manifest')  # not orbax's
        if not ours and _owner(rel) == me:
          files[rel] = _sha256(os.path.join(root, name))
    manifest = dict(step=step, process=me, files=files)
    if me == 0:
      manifest.update(num_processes=count, leaves=leaves, config=self.config,
                      config_sha256=sha256_json(self.config))
    manifest['self_sha256'] = sha256_json(manifest)
    _write_json(os.path.join(path, MANIFEST if me == 0 else
                             f'manifest.process_{me}.json'), manifest)
    kill_point('manifest', step)
    if me == 0:
      self._prune()

  def _prune(self) -> None:
    """Keeps the newest ``max_to_keep`` steps: older ones are renamed out of
    the steps (atomic) and removed in a thread while the run goes on."""
    for old in self.steps()[:-self.max_to_keep]:
      gone = os.path.join(self.directory, f'{_PRUNED}{old:06d}.{os.getpid()}')
      try:
        os.rename(self._path(old), gone)
      except OSError:
        continue
      t = threading.Thread(target=shutil.rmtree, args=(gone, True),
                           daemon=True, name='mpl_jax-prune')
      t.start()
      self._pruning.append(t)
    self._pruning = [t for t in self._pruning if t.is_alive()]
    self._manager.reload()

  def close(self) -> None:
    """Finishes the pending save and releases orbax's resources."""
    try:
      self.wait()
    finally:
      for t in self._pruning:
        t.join()
      self._manager.close()

  # -- verifying -------------------------------------------------------------
  def _manifest(self, step: int, process: int = 0) -> dict:
    name = MANIFEST if process == 0 else f'manifest.process_{process}.json'
    try:
      with open(os.path.join(self._path(step), name)) as f:
        m = json.load(f)
    except FileNotFoundError:
      raise CheckpointDamaged(f'{name} is missing (killed while saving?)'
                              ) from None
    except (OSError, ValueError) as e:
      raise CheckpointDamaged(f'{name} is unreadable ({e})') from None
    if not isinstance(m, dict) or not isinstance(m.get('files'), dict):
      raise CheckpointDamaged(f'{name} is not a manifest object')
    claimed = m.pop('self_sha256', None)
    if claimed != sha256_json(m):
      raise CheckpointDamaged(f'{name} does not match its own checksum')
    return m

  def _verify_local(self, step: int) -> tuple[Optional[dict], str]:
    """This process's share of the checks: ``(manifest, why damaged)``."""
    try:
      main = self._manifest(step)
      n = main.get('num_processes')
      if not isinstance(n, int) or n < 1:
        raise CheckpointDamaged(f'{MANIFEST} names no process count')
      for p in range(jax.process_index(), n, jax.process_count()):
        m = main if p == 0 else self._manifest(step, p)
        for rel, digest in m['files'].items():
          f = os.path.join(self._path(step), rel)
          if not os.path.isfile(f):
            raise CheckpointDamaged(f'{rel} is missing')
          if _sha256(f) != digest:
            raise CheckpointDamaged(f'{rel} does not match its checksum '
                                    '(truncated or altered)')
      return main, ''
    except CheckpointDamaged as e:
      return None, str(e)

  def _agree(self, ok: bool) -> bool:
    """True when every process found its share intact."""
    if jax.process_count() == 1:
      return ok
    flags = multihost_utils.process_allgather(np.asarray([ok], np.int32))
    return bool(np.all(flags))

  def check_config(self, config: Optional[dict] = None) -> None:
    """Raises :class:`ConfigMismatch` (one line naming the differing leaf
    fields) if the newest readable checkpoint was written by another
    config. Damaged manifests are skipped here (:meth:`restore_latest`
    reports them)."""
    config = self.config if config is None else config
    for step in reversed(self.steps()):
      try:
        m = self._manifest(step)
      except CheckpointDamaged:
        continue
      if m.get('config_sha256') != sha256_json(config):
        diff = config_diff(m.get('config'), config)
        raise ConfigMismatch(
            f'{os.path.dirname(self.directory)} holds checkpoints of a '
            'different config '
            f'({config_checks.describe_diff(diff) or "its hash differs"}): '
            'use a new --workdir, or the config that wrote them to resume.')
      return

  # -- restoring -------------------------------------------------------------
  def _check_tree(self, step: int, main: dict, template: Any,
                  relayout: Optional[Callable[[Any], Any]]) -> bool:
    """True if the checkpoint fits ``template``; False if it differs only
    in its leading axes and ``relayout`` is given; else ``ValueError``."""
    saved, now = main.get('leaves'), _leaves(template)
    if saved == now:
      return True
    if relayout is not None and isinstance(saved, list) and len(saved) == len(
        now) and all(isinstance(a, dict) and a.get('path') == b['path'] and
                     a.get('dtype') == b['dtype'] and
                     a.get('shape', [])[1:] == b['shape'][1:]
                     for a, b in zip(saved, now)):
      return False
    if not isinstance(saved, list) or len(saved) != len(now):
      raise ValueError(
          f'checkpoint of task {step} holds {len(saved or [])} arrays, the '
          f'run {len(now)}: the workdir was written by another config or '
          'version.')
    for a, b in zip(saved, now):
      if a != b:
        raise ValueError(
            f'checkpoint of task {step}: leaf {a.get("path")} is '
            f'{a.get("dtype")}{a.get("shape")}, the run\'s {b["path"]} '
            f'{b["dtype"]}{b["shape"]}: the workdir was written by another '
            'config, version or device count.')

  def _restore(self, step: int, template: Any) -> Any:
    abstract = jax.tree.map(
        lambda x: (jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
                   if isinstance(x, jax.Array) else np.asarray(x)), template)
    out = self._manager.restore(step, args=ocp.args.Composite(
        **{_ITEM: ocp.args.StandardRestore(abstract)}))
    return out[_ITEM]

  def read(self, step: int) -> Any:
    """Checkpoint ``step`` as host numpy arrays, verified (no template
    needed: for tests and tools). Raises :class:`CheckpointDamaged`."""
    self.wait()
    main, why = self._verify_local(step)
    if main is None:
      raise CheckpointDamaged(f'checkpoint of task {step}: {why}')
    return self._read_host(step)

  def _read_host(self, step: int) -> Any:
    out = self._manager.restore(step, args=ocp.args.Composite(
        **{_ITEM: ocp.args.StandardRestore()}))
    return jax.tree.map(np.asarray, out[_ITEM])

  def restore_latest(self, template: Any,
                     relayout: Optional[Callable[[Any], Any]] = None
                     ) -> tuple[int, Optional[Any]]:
    """``(step, tree)`` of the newest intact checkpoint, or ``(0, None)``.

    Damaged checkpoints are logged (one line each) and deleted; a
    checkpoint of another tree raises ``ValueError``. ``relayout`` maps a
    checkpoint whose leaves differ from ``template``'s only in their leading
    axis (runs padded for another device count) to ``template``'s layout;
    it gets the checkpoint as host numpy arrays.
    """
    self.wait()
    steps = self.steps()
    damaged = []
    found: tuple[int, Optional[Any]] = (0, None)
    for step in reversed(steps):
      main, why = self._verify_local(step)
      if self._agree(main is not None):
        # Verified: its files are those written, so an error reading them
        # is not damage (it is raised, and the checkpoint kept).
        fits = self._check_tree(step, main, template, relayout)
        found = (step, self._restore(step, template) if fits else
                 relayout(self._read_host(step)))
        break
      damaged.append(step)
      logging.warning('Checkpoint of task %d in %s is damaged (%s); %s',
                      step, self.directory,
                      why or 'another process found its share damaged',
                      'trying an older one.' if step != steps[0] else
                      'no intact checkpoint left, starting from task 1.')
    if damaged:  # a new save of that step must not find it there
      if jax.process_index() == 0:
        for step in damaged:
          shutil.rmtree(self._path(step), ignore_errors=True)
      if jax.process_count() > 1:
        multihost_utils.sync_global_devices('mpl_jax checkpoints pruned')
      self._manager.reload()
    return found
