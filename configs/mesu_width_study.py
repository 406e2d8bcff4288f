r"""MESU memory window N x width study (SPEC §2), one width per run.

  for H in 50 256 512 1024; do
    python -m launch.main --config=configs/mesu_width_study.py:$H \
        --workdir=runs/mesu_width_$H
  done

Permuted Fashion-MNIST online (offline data), hidden width H from the config
string, N in {1.8e5, 6e5, 2.4e6, 1e15} swept inside one vmapped program,
3 seeds; 10 tasks of 10,000 images (raise num_tasks / train_subset for the
full study). Expected: small N forgets fast but stays plastic, N = 1e15
remembers but loses plasticity (last-5 accuracy drops); wider nets shift the
best N upward. Not measured on the 2-core build machines: no numbers were
recorded (tests/test_config_docs.py checks that its commands parse and
validate).
"""

from configs import pfmnist_mesu


def get_config(arg: str = '50'):
  c = pfmnist_mesu.get_config('mesu')
  width = int(arg or 50)
  c.name = f'mesu_width_{width}'
  c.model.hidden = (width,)
  c.sweep.name = 'memory_window'
  c.sweep.values = (1.8e5, 6e5, 2.4e6, 1e15)
  return c


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
DOC_CHECK = tuple(
    dict(command='python -m launch.main '
         f'--config=configs/mesu_width_study.py:{h} '
         f'--workdir=runs/mesu_width_{h}',
         tier='not_run', measured=None, claims=())  # runs; never measured
    for h in (50, 256, 512, 1024))
