"""What the trainer expects of a learner, an evaluator and a plugin.

The trainer (:mod:`mpl_jax.train.train`) knows no particular task stream,
learner, evaluator or program: each is a *plugin* registered by name in
:mod:`mpl_jax.train.registry`, with a builder and its own ``validate(config)``
(run before any data is loaded). This module holds the typed contracts,
:class:`Learner` and :class:`Evaluator` (``typing.Protocol``, checked by
type checkers and, with ``isinstance``, at run time), and the four plugin
records. It imports nothing from the trainer, so every plugin module can
import it.

Example, a toy evaluator (one module plus one registry line, see
``docs/CONTRACTS.md``):

>>> import jax.numpy as jnp
>>> class MeanWeight:
...   name = 'mean_weight'
...   shared = {}
...   def per_run(self, layout): return {}
...   def after_task(self, learner, state, seed, t, task, test_images,
...                  shared, per_run):
...     return jnp.mean(jnp.asarray(state.params['Dense_0']['kernel']))
...   def summarize(self, values, init, runs, seeds):
...     return {'mean_weight': float(values[:, -1].mean())}
>>> plugin = EvaluatorPlugin(
...     build=lambda settings, stream, data_dir: MeanWeight())
>>> isinstance(MeanWeight(), Evaluator)
True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Protocol, runtime_checkable

import numpy as np

PyTree = Any


@runtime_checkable
class Learner(Protocol):
  """Pure single-run functions; the trainer maps them over runs and compiles
  each task (:mod:`mpl_jax.train.program`).

  Keys: a learner derives every key from the run's ``seed`` through the
  named streams of :mod:`mpl_jax.train.keys` (``'init'`` at init,
  ``'rule'`` at task ``t``), and trains an epoch from the ``epoch_key`` the
  trainer passes (stream ``'epoch'``). ``seed``, ``task`` and
  ``sweep_value`` may be traced scalars.
  """
  batch_size: int

  def init(self, seed: Any, sweep_value: Any = None) -> PyTree:
    """A fresh state for one run."""

  def start_task(self, state: PyTree, seed: Any, task: Any,
                 sweep_value: Any = None) -> PyTree:
    """Before training ``task`` (e.g. an optimizer reset)."""

  def train_epoch(self, state: PyTree, images, idx, labels, perm,
                  class_mask, epoch_key, task_id) -> tuple[PyTree, Any, Any]:
    """One epoch: ``(state, mean loss, mean training accuracy)``."""

  def end_task(self, state: PyTree, task: Any) -> PyTree:
    """After training ``task``."""

  def evaluate(self, state: PyTree, images, idx, labels, perm, class_mask,
               key, bn_task) -> Any:
    """Accuracy of the run on the given test examples."""


@runtime_checkable
class Evaluator(Protocol):
  """A measurement after every task, compiled into the task program.

  Optional attributes the trainer reads when present: ``shapes`` (name ->
  per-task shape, when ``after_task`` returns a dict of arrays),
  ``at_init`` (also evaluated before training, with ``t = -1``) and
  ``plot(workdir, values, per_group_summary, groups, title)``.
  """
  name: str
  shared: dict[str, Any]

  def per_run(self, layout) -> dict[str, Any]:
    """Host arrays with a leading runs axis (or ``{}``)."""

  def after_task(self, learner: Any, state: PyTree, seed, t, task,
                 test_images, shared, per_run) -> Any:
    """Pure, one run: an array or a dict of arrays (keys: stream
    ``'evaluator'``)."""

  def summarize(self, values, init, runs, seeds) -> dict[str, Any]:
    """``summary.json`` entries of one group of runs; ``values`` is
    ``[runs, tasks_done, ...]``."""


def _no_checks(config) -> None:
  del config


def training_chance(stream, t: int) -> Optional[float]:
  """Chance level of task ``t``'s training accuracy: one over the classes it
  trains (those of its training mask, else all of the stream's)."""
  mask = stream.tasks[t].training_mask
  if mask is None:
    classes = stream.num_classes
  else:
    classes = int(np.asarray(mask).sum(-1).max())
  return 1.0 / max(classes, 1)


@dataclasses.dataclass(frozen=True)
class StreamPlugin:
  """``config.data.stream``: ``build(config, seeds) -> TaskStream``.

  ``optimizer_variants(config) -> list of optimizer configs``, when set,
  gives the optimizer of each value of a non-numeric sweep (the item
  protocol's flexibility mixes); such a stream checks its sweep itself.

  ``chance(stream, t) -> float or None``: what "below chance" means for the
  stream: the chance level of task ``t``'s last-epoch training accuracy
  (default :func:`training_chance`), under which the trainer warns that a
  run may have diverged, and near which, in every run of a swept value, it
  counts the task as diverged (:mod:`mpl_jax.train.health`). ``None``: the
  task may end at chance by design (e.g. a single-item session), so its
  training accuracy says nothing about divergence; its loss still does.
  """
  build: Callable[..., Any]
  validate: Callable[[Any], None] = _no_checks
  optimizer_variants: Optional[Callable[[Any], list[dict[str, Any]]]] = None
  chance: Callable[[Any, int], Optional[float]] = training_chance


@dataclasses.dataclass(frozen=True)
class LearnerPlugin:
  """``config.learner``: ``build(config, stream, sweep_name) -> Learner``;
  ``provides``: the learner's methods beyond :class:`Learner` (e.g.
  ``'predict'``), matched against what evaluators need."""
  build: Callable[..., Any]
  validate: Callable[[Any], None] = _no_checks
  provides: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class EvaluatorPlugin:
  """``config.evals.<name>``: ``build(settings, stream, data_dir) ->
  Evaluator``; ``validate(config)`` checks ``config.evals.<name>``;
  ``needs``: learner methods beyond :class:`Learner` it calls."""
  build: Callable[..., Any]
  validate: Callable[[Any], None] = _no_checks
  needs: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ProgramPlugin:
  """``config.program``: ``run(config, workdir) -> summary``."""
  run: Callable[..., Any]
  validate: Callable[[Any], None] = _no_checks
