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
