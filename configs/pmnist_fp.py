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
