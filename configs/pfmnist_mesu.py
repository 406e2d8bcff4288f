r"""Permuted Fashion-MNIST online: MESU vs baselines, offline (SPEC §2).

  python -m launch.main --config=configs/pfmnist_mesu.py:METHOD \
      --workdir=runs/pfmnist_mesu_METHOD

Same protocol and settings as configs/pmnist_mesu.py (METHOD one of mesu,
sgd, ewc_online, ewc_stream, si, bgd) on Fashion-MNIST, which prepares
offline from Debian's files. The default here is the measured BUILD.md
setting: 10 tasks, 10,000 training images per task (one online pass each,
100,000 steps per seed), 2,000 test images per task, 3 seeds. Raise
``--config.data.num_tasks`` (50, 200) and ``--config.data.train_subset=0``
for the full protocol. Expected: MESU keeps the highest mean accuracy over
seen tasks as tasks accumulate, while SGD forgets the oldest tasks.
"""

from configs import pmnist_mesu

METHODS = pmnist_mesu.METHODS


def get_config(arg: str = 'mesu'):
  c = pmnist_mesu.get_config(arg)
  c.name = c.name.replace('pmnist', 'pfmnist')
  c.data.dataset = 'fashion_mnist'
  c.data.num_tasks = 10
  c.data.train_subset = 10_000
  c.data.test_subset = 2_000
  return c
