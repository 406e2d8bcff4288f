"""A tiny trainer config shared by the trainer tests (offline, seconds)."""

from configs import default


def tiny_config(**over):
  """Permuted digits, 3 tasks, 2 seeds, a 64-32-10 BNN; ``over`` sets
  dotted fields, e.g. ``tiny_config(**{'protocol.batch_size': 16})``."""
  c = default.get_config()
  c.name = 'tiny'
  c.num_seeds = 2
  c.data.dataset = 'digits'
  c.data.num_tasks = 3
  c.data.scale = 1.0 / 16.0
  c.model.hidden = (32,)
  c.protocol.epochs_per_task = 2
  c.protocol.batch_size = 64
  c.protocol.eval_batch_size = 128
  c.plot = False
  for k, v in over.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  return c


class _TinyStream:
  input_dim, num_classes, num_tasks = 100, 2, 2


def tiny_erbp_learner(optimizer, task_boundaries=False, **snn):
  """The eRBP learner of a 100-32-2 spiking net (100 steps, no stream):
  ``optimizer`` is ``config.optimizer``, ``snn`` overrides ``config.snn``
  beyond the tests' stronger initial weights."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from mpl_jax.train import spiking  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()
  c.model = dict(hidden=(32,))
  c.snn = spiking.snn_config(**{'num_steps': 100, 'init_scale_hidden': 2.0,
                                'init_scale_output': 1.5, **snn})
  c.optimizer = optimizer
  c.data = dict(scale=1 / 255.0, mean=0.0, std=1.0)
  c.protocol = default.get_config().protocol
  c.protocol.update(dict(reset_optimizer='none', batch_size=1,
                         eval_batch_size=16, task_boundaries=task_boundaries))
  return spiking.make_erbp_learner(c, _TinyStream(), None)
