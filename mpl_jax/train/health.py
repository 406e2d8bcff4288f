"""Health checks of a run: non-finite losses stop it, signs of divergence
are logged after each task, and a run whose tasks diverged while staying
finite (the loss grew past ``protocol.divergence_factor``, or a task ended
at chance in every run of a swept value) fails at its end with
:class:`Diverged`, unless ``protocol.expect_divergence``.

Both read the host :class:`~mpl_jax.train.record.RunRecord` once a task's
program has returned, so they cost no device work.
"""

from __future__ import annotations

from absl import logging
import numpy as np


AT_CHANCE_MARGIN = 0.1
"""A task ends *at chance* in a run when its last-epoch training accuracy is
below ``chance + AT_CHANCE_MARGIN * (1 - chance)`` (10 classes: 19%)."""


class NonFiniteLoss(FloatingPointError):
  """A run's training loss became NaN or infinite (one-line message)."""


class Diverged(ValueError):
  """Tasks diverged in some swept value and the config does not expect it."""


def _grew(losses, factor):
  """``[R, ...]`` bool: the loss grew more than ``factor`` times from the
  first to the last epoch (``losses``: ``[R, ..., E]``)."""
  if losses.shape[-1] < 2:
    return np.zeros(losses.shape[:-1], bool)
  return losses[..., -1] > factor * np.maximum(losses[..., 0], 1e-12)


def warn_divergence(record, t, layout, chance, factor):
  """Warns when the loss grew by orders of magnitude during task ``t`` or
  the training accuracy of its last epoch is below ``chance`` (the stream's
  chance level of the task, :class:`~mpl_jax.train.interfaces.StreamPlugin`;
  None: a task that may end at chance, never warned about)."""
  losses = record.losses[:, t]
  grew = _grew(losses, factor)
  if grew.any():
    bad = np.flatnonzero(grew)
    logging.warning(
        'Divergence? In task %d the training loss grew more than %gx from '
        'epoch 1 to epoch %d (%.3g -> %.3g) in runs %s (seeds %s, values %s).'
        ' Consider a lower learning rate.', t + 1, factor, losses.shape[1],
        float(losses[bad, 0].mean()), float(losses[bad, -1].mean()),
        bad.tolist(), [layout.seeds[i] for i in bad],
        [layout.values[i] for i in bad])
  if chance is None:
    return
  last = record.train_accuracy[:, t, -1]
  below = last < chance
  if below.any():
    bad = np.flatnonzero(below)
    logging.warning(
        'Task %d: training accuracy in its last epoch is below chance '
        '(%.1f%% < %.1f%%) in runs %s (seeds %s, values %s): the run may have '
        'diverged.', t + 1, 100 * float(last[bad].mean()), 100 * chance,
        bad.tolist(), [layout.seeds[i] for i in bad],
        [layout.values[i] for i in bad])


def diverged_tasks(record, done, groups, chance_of, factor):
  """The diverged tasks of each group of runs (swept value).

  A task diverged in a group when its training loss grew more than
  ``factor`` times from its first to its last epoch in some run of the
  group, or when it ended at chance (:data:`AT_CHANCE_MARGIN`) in every run
  of the group; ``chance_of(t)`` is the stream's chance level (None: never
  at chance).

  Returns:
    ``{group: {'loss': [tasks], 'chance': [tasks]}}`` (tasks from 1) for the
    groups with a diverged task.
  """
  grew = _grew(record.losses[:, :done], factor)  # [R, done]
  last = record.train_accuracy[:, :done, -1]
  at_chance = np.zeros_like(grew)
  for t in range(done):
    c = chance_of(t)
    if c is not None:
      at_chance[:, t] = last[:, t] < c + AT_CHANCE_MARGIN * (1 - c)
  out = {}
  for g, runs in groups.items():
    loss = np.flatnonzero(grew[runs].any(0)) + 1
    chance = np.flatnonzero(at_chance[runs].all(0)) + 1
    if loss.size or chance.size:
      out[g] = dict(loss=loss.tolist(), chance=chance.tolist())
  return out


def _tasks(ts):
  """``[1, 2, 3, 5]`` -> ``'1-3, 5'``."""
  parts, i = [], 0
  while i < len(ts):
    j = i
    while j + 1 < len(ts) and ts[j + 1] == ts[j] + 1:
      j += 1
    parts.append(str(ts[i]) if i == j else f'{ts[i]}-{ts[j]}')
    i = j + 1
  return ', '.join(parts)


def check_diverged(record, done, groups, chance_of, factor, workdir,
                   expected: bool):
  """Reports the diverged tasks per group (:func:`diverged_tasks`) in one
  line: a warning when ``expected`` (``protocol.expect_divergence``), else
  :class:`Diverged`."""
  bad = diverged_tasks(record, done, groups, chance_of, factor)
  if not bad:
    return
  parts = []
  for g, d in bad.items():
    what = []
    if d['chance']:
      what.append(f"tasks {_tasks(d['chance'])} ended at chance in every run")
    if d['loss']:
      what.append(f"the loss grew more than {factor:g}x in tasks "
                  f"{_tasks(d['loss'])}")
    parts.append(f"{g or 'all runs'}: {' and '.join(what)}")
  msg = (f"diverged: {'; '.join(parts)} (outputs in {workdir}): lower the "
         'learning rate, or set config.protocol.expect_divergence=True if '
         'such tasks are expected.')
  if expected:
    logging.warning('Expected divergence (config.protocol.expect_divergence)'
                    ': %s', msg)
  else:
    raise Diverged(msg)


def check_finite(record, t, layout, workdir):
  losses = record.losses[:, t]
  bad_runs = ~np.all(np.isfinite(losses), axis=1)
  if not bad_runs.any():
    return
  bad = np.flatnonzero(bad_runs)
  epoch = int(np.flatnonzero(~np.isfinite(losses[bad[0]]))[0])
  saved = (f'tasks 1..{t} are checkpointed in {workdir}' if t else
           'no task was completed, nothing is checkpointed')
  raise NonFiniteLoss(
      f'non-finite training loss in task {t + 1} epoch {epoch + 1} for runs '
      f'{bad.tolist()} (seeds {[layout.seeds[i] for i in bad]}, values '
      f'{[layout.values[i] for i in bad]}): lower the learning rate or check '
      f'the data scaling; {saved}.')
