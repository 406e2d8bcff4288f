"""One registry per axis: streams, learners, evaluators, programs.

Each maps a config name to a plugin of :mod:`mpl_jax.train.interfaces`
(a builder plus its own ``validate(config)``). Built-in plugins are named
here as ``'module:attribute'`` and imported on first use, so this module
imports no plugin (and no plugin imports it back: no import circle) and a
run loads only the plugins its config names. A new stream, learner,
evaluator or program is one module plus one line in a table below, or a
call to :meth:`Registry.register`:

>>> from mpl_jax.train import interfaces
>>> EVALUATORS.register('my_eval', interfaces.EvaluatorPlugin(
...     build=lambda settings, stream, data_dir: None))
>>> 'my_eval' in EVALUATORS.names()
True
>>> EVALUATORS.unregister('my_eval')
"""

from __future__ import annotations

import importlib
from typing import Any, Union

from mpl_jax import config_checks
from mpl_jax.train import interfaces


class Registry:
  """Name -> plugin (or ``'module:attribute'``, imported when first used).

  Args:
    axis: what is registered (used in messages), e.g. ``'evaluator'``.
    field: the config field naming it, e.g. ``'config.evals'``.
    table: the built-in entries.
  """

  def __init__(self, axis: str, field: str, table: dict[str, Any]):
    self.axis, self.field = axis, field
    self._table: dict[str, Union[str, Any]] = dict(table)

  def register(self, name: str, plugin: Any) -> None:
    """Adds (or replaces) ``name``."""
    self._table[name] = plugin

  def unregister(self, name: str) -> None:
    """Removes ``name`` (tests that registered a toy)."""
    self._table.pop(name, None)

  def names(self) -> list[str]:
    return sorted(self._table)

  def __contains__(self, name: str) -> bool:
    return name in self._table

  def get(self, name: str) -> Any:
    """The plugin of ``name`` (ConfigError naming the known ones)."""
    if name not in self._table:
      raise config_checks.ConfigError(
          f'unknown {self.axis} {self.field}={name!r}; known: '
          f'{self.names()}.')
    entry = self._table[name]
    if isinstance(entry, str):
      module, attr = entry.split(':')
      entry = getattr(importlib.import_module(module), attr)
      self._table[name] = entry
    return entry


def _lazy(path: str):
  """A function that imports ``'module:function'`` when first called."""
  def call(*args, **kwargs):
    module, attr = path.split(':')
    return getattr(importlib.import_module(module), attr)(*args, **kwargs)
  return call


STREAMS = Registry('stream', 'config.data.stream', {
    'permuted': 'mpl_jax.train.task_streams:PERMUTED',
    'split': 'mpl_jax.train.task_streams:SPLIT',
    'sequential': 'mpl_jax.train.task_streams:SEQUENTIAL',
    'items': 'mpl_jax.train.items:STREAM',
})

LEARNERS = Registry('learner', 'config.learner', {
    'gradient': 'mpl_jax.train.learner:PLUGIN',
    'erbp': 'mpl_jax.train.spiking:PLUGIN',
})

EVALUATORS = Registry('evaluator', 'config.evals', {
    'ood_auc': 'mpl_jax.train.evaluators:OOD_AUC',
    'items': 'mpl_jax.train.items:EVALUATOR',
})

PROGRAMS = Registry('program', 'config.program', {
    'continual': 'mpl_jax.train.train:PROGRAM',
    'calcium': interfaces.ProgramPlugin(
        run=_lazy('mpl_jax.neuro.experiments:run_calcium'),
        validate=_lazy('mpl_jax.neuro.validation:validate_calcium')),
    'assoc': interfaces.ProgramPlugin(
        run=_lazy('mpl_jax.neuro.experiments:run_assoc'),
        validate=_lazy('mpl_jax.neuro.validation:validate_assoc')),
})
