r"""Full-precision control of pmnist_meta: Linear-BN-ReLU, same settings.

  python -m launch.main --config=configs/pmnist_fp.py --workdir=runs/pmnist_fp

The metaplastic gate acts on any weight, so meta still applies (SPEC §1 table,
"full-precision control"); meta = 0 is plain Adam. Needs MNIST via TFDS.
"""

from configs import pmnist_meta


def get_config():
  c = pmnist_meta.get_config()
  c.name = 'pmnist_fp'
  c.model.name = 'mlp'
  return c


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
DOC_CHECK = (
    # Needs MNIST (a download): not run on the offline build machines.
    dict(command='python -m launch.main --config=configs/pmnist_fp.py '
         '--workdir=runs/pmnist_fp', tier='not_run', measured=None,
         claims=()),
)
