r"""Permuted MNIST, metaplastic BNN (Laborieux et al. 2021, SPEC §1 table).

  python -m launch.main --config=configs/pmnist_meta.py --workdir=runs/pmnist \
      --config.num_seeds=5

784-4096-4096-10 BNN, Adam lr 0.005, coupled L2 1e-7, meta 1.35, batch 100,
40 epochs per task, 6 tasks (a new permutation per task, first included),
Adam state reset at each task, BN with batch statistics at test time. Sweep
the paper's meta values in one program with
``--config.sweep.name=meta --config.sweep.values="(0.0,0.5,1.0,1.35)"``.

Needs MNIST through TFDS (downloads where there is internet; not available on
the offline build machines: use pfmnist_meta there). Expected (paper, Fig. 2):
with meta = 1.35 all six tasks stay well above chance (roughly 90%+ on recent
tasks and slowly decaying on old ones), while meta = 0 keeps only the last
tasks. Runtime: hours on CPU; about 1 GPU-hour per seed-set on a modern GPU.
"""

from configs import default


def get_config():
  c = default.get_config()
  c.name = 'pmnist_meta'
  return c


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
DOC_CHECK = (
    # Needs MNIST (a download): not run on the offline build machines; the
    # "Expected" above is the paper's.
    dict(command='python -m launch.main --config=configs/pmnist_meta.py '
         '--workdir=runs/pmnist --config.num_seeds=5', tier='not_run',
         measured=None, claims=()),
)
