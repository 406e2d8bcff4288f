r"""Permuted MNIST, 200 tasks online: MESU and its baselines (SPEC §2).

  python -m launch.main --config=configs/pmnist_mesu.py:METHOD \
      --workdir=runs/pmnist_mesu_METHOD

METHOD: ``mesu`` (default), ``sgd``, ``ewc_online``, ``ewc_stream``, ``si``,
``bgd``. The stream is task-free: one pass over each task at batch size 1,
the learner never receives a task boundary (``protocol.task_boundaries =
False``), except the EWC/SI baselines, which need one by construction (their
published protocols give it). Evaluation after each task on the tasks seen so
far (``eval_tasks='seen'``): mean accuracy over seen tasks after each task and
over the last 5 tasks (summary.json).

MESU: Bayesian MLP 784-50-10 (ReLU, no biases, reference init), 10 MC samples
for training and testing, lr_mu = lr_sigma = 1, mu_prior 0, sigma_prior 1
(the reference code's setting), N = 300,000 minibatches; loss summed over the
batch. Baselines on the same stream: SGD lr 0.002 on a plain MLP 784-50-10;
online EWC (importance 2, decay 0.2); stream EWC (importance 5, Fisher decay
0.2 as in the reference code: with no decay the Fisher sums g^2 over every
step and the run diverges); SI (c = 1e-4, damping 1); BGD / FOO-VB diagonal
on the Bayesian MLP.

Needs MNIST through TFDS (internet). Offline counterpart:
configs/pfmnist_mesu.py. A full 200-task run is 12 M online steps per seed:
hours on a GPU, days on 2 CPU cores; use ``--config.data.num_tasks`` and
``--config.data.train_subset`` to shorten (the numbers reported in BUILD.md
say which).
"""

from configs import default

METHODS = ('mesu', 'sgd', 'ewc_online', 'ewc_stream', 'si', 'bgd')


def get_config(arg: str = 'mesu'):
  method = arg or 'mesu'
  if method not in METHODS:
    raise ValueError(f'method must be one of {METHODS}, got {method!r}')
  c = default.get_config()
  c.name = f'pmnist_mesu_{method}'
  c.num_seeds = 3
  c.data.dataset = 'mnist'
  c.data.num_tasks = 200
  c.protocol.epochs_per_task = 1
  c.protocol.batch_size = 1
  c.protocol.eval_batch_size = 1000
  c.protocol.reset_optimizer = 'none'
  c.protocol.task_boundaries = False
  c.protocol.eval_tasks = 'seen'
  c.protocol.eval_every = 'task'
  c.protocol.loss_reduction = 'sum'
  bayes = dict(name='bayesian_mlp', hidden=(50,), num_mc_samples=10)
  plain = dict(name='mlp', hidden=(50,), use_bn=False)
  if method == 'mesu':
    c.model = bayes
    c.optimizer = dict(name='mesu', learning_rate_mu=1.0,
                       learning_rate_sigma=1.0, sigma_prior=1.0,
                       mu_prior=0.0, memory_window=300_000.0)
  elif method == 'bgd':
    c.model = bayes
    c.optimizer = dict(name='bgd', eta=1.0)
  elif method == 'sgd':
    c.model = plain
    c.optimizer = dict(name='sgd', learning_rate=0.002)
  elif method == 'ewc_online':
    c.model = plain
    c.protocol.task_boundaries = True
    c.optimizer = dict(name='ewc_sgd', learning_rate=0.002, importance=2.0,
                       decay=0.2, mode='online')
  elif method == 'ewc_stream':
    c.model = plain
    c.optimizer = dict(name='ewc_sgd', learning_rate=0.002, importance=5.0,
                       decay=0.2, mode='stream')
  else:
    c.model = plain
    c.protocol.task_boundaries = True
    c.optimizer = dict(name='si_sgd', learning_rate=0.002, c=1e-4, xi=0.1,
                       damping=1.0)
  return c


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
DOC_CHECK = tuple(
    # Needs MNIST (a download): not run on the offline build machines;
    # configs/pfmnist_mesu.py holds the measured offline counterpart.
    dict(command='python -m launch.main '
         f'--config=configs/pmnist_mesu.py:{m} --workdir=runs/pmnist_mesu_{m}',
         tier='not_run', measured=None, claims=())
    for m in ('mesu', 'sgd', 'ewc_online', 'ewc_stream', 'si', 'bgd'))
