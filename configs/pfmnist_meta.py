r"""Permuted Fashion-MNIST, metaplastic BNN: the offline counterpart of pMNIST.

  python -m launch.main --config=configs/pfmnist_meta.py --workdir=runs/pfmnist

Same protocol as configs/pmnist_meta.py (784-4096-4096-10 BNN, lr 0.005,
wd 1e-7, batch 100, 40 epochs per task, 6 tasks, Adam reset per task) on
Fashion-MNIST, which prepares offline from Debian's files
(``apt-get install dataset-fashion-mnist``; the loader restores them into
TFDS's manual dir and verifies TFDS's checksums). Runs meta = 0 and 1.35 for
3 seeds in one vmapped program.

The smaller variant measured for BUILD.md (2-core CPU, about 40 minutes):

  python -m launch.main --config=configs/pfmnist_meta.py --workdir=runs/pfm5 \
      --config.model.hidden="(512,512)" --config.data.num_tasks=5 \
      --config.protocol.epochs_per_task=3 --config.protocol.eval_every=task

Expected: meta = 1.35 keeps more accuracy on the first task after the last
one than meta = 0 (summary.json -> sweep.groups -> final_accuracy_per_task);
BUILD.md lists the measured values.
"""

from configs import default


def get_config():
  c = default.get_config()
  c.name = 'pfmnist_meta'
  c.num_seeds = 3
  c.data.dataset = 'fashion_mnist'
  c.sweep.name = 'meta'
  c.sweep.values = (0.0, 1.35)
  return c
