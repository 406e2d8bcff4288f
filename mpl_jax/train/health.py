"""Health checks of a run after each task: non-finite losses stop it,
signs of divergence are logged.

Both read the host :class:`~mpl_jax.train.record.RunRecord` once a task's
program has returned, so they cost no device work.
"""

from __future__ import annotations

from absl import logging
import numpy as np


def warn_divergence(record, t, layout, stream, factor):
  """Warns when the loss grew by orders of magnitude during task ``t`` or
  the training accuracy of its last epoch is below chance."""
  losses = record.losses[:, t]
  grew = losses[:, -1] > factor * np.maximum(losses[:, 0], 1e-12)
  if losses.shape[1] > 1 and grew.any():
    bad = np.flatnonzero(grew)
    logging.warning(
        'Divergence? In task %d the training loss grew more than %gx from '
        'epoch 1 to epoch %d (%.3g -> %.3g) in runs %s (seeds %s, values %s).'
        ' Consider a lower learning rate.', t + 1, factor, losses.shape[1],
        float(losses[bad, 0].mean()), float(losses[bad, -1].mean()),
        bad.tolist(), [layout.seeds[i] for i in bad],
        [layout.values[i] for i in bad])
  mask = stream.tasks[t].training_mask
  classes = (stream.num_classes if mask is None else
             int(np.asarray(mask).sum(-1).max()))
  chance = 1.0 / max(classes, 1)
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


def check_finite(record, t, layout, workdir):
  losses = record.losses[:, t]
  bad_runs = ~np.all(np.isfinite(losses), axis=1)
  if not bad_runs.any():
    return
  bad = np.flatnonzero(bad_runs)
  epoch = int(np.flatnonzero(~np.isfinite(losses[bad[0]]))[0])
  saved = (f'tasks 1..{t} are checkpointed in {workdir}' if t else
           'no task was completed, nothing is checkpointed')
  raise FloatingPointError(
      f'non-finite training loss in task {t + 1} epoch {epoch + 1} for runs '
      f'{bad.tolist()} (seeds {[layout.seeds[i] for i in bad]}, values '
      f'{[layout.values[i] for i in bad]}): lower the learning rate or check '
      f'the data scaling; {saved}.')
