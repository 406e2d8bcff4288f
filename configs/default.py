"""Base config: the reference permuted-MNIST metaplastic BNN (SPEC §1).

Every experiment config imports this and overrides a few fields. Any field can
be overridden on the command line, e.g. ``--config.num_seeds=8``.

Fields:
  name: the run's name (plot titles).
  program: what ``launch.main`` runs: 'continual' (this trainer, the
    default); the simulation configs set 'calcium' or 'assoc'.
  seed, num_seeds: runs use seeds ``seed, seed+1, ..., seed+num_seeds-1``, all
    vmapped in one program.
  data: ``stream`` ('permuted' | 'sequential' | 'split'), ``dataset``
    (permuted, split) or ``datasets`` (sequential), ``num_tasks`` (split: 0 =
    all), ``permute_first``, split only: ``scenario`` ('class' | 'task' |
    'domain'), ``classes_per_task``, ``class_order`` ('fixed' | 'random'),
    ``train_outputs`` ('all' | 'task': class scenario only, the training
    loss sees the current task's outputs only, the test all: the labels
    trick),
    ``train_subset``/``test_subset`` (0: all), pixel ``scale``, ``mean``,
    ``std`` (x = (pixels*scale - mean)/std), ``data_dir`` ('' = TFDS default).
  model: ``name`` ('binary_mlp' | 'mlp'), ``hidden`` widths (``()``: no
    hidden layer, one layer from inputs to outputs, logged), ``init_scale``
    (U(-s, s)), ``bn_eval`` ('batch': test-batch statistics as the reference;
    'running'), ``bn_momentum`` (Flax convention; 0.9 = PyTorch's 0.1).
  optimizer: ``name`` plus the factory's keyword arguments.
  protocol: ``epochs_per_task``, ``batch_size``, ``eval_batch_size``,
    ``reset_optimizer`` ('none' | 'moments' | 'all' at each task),
    ``per_task_bn`` (save BN per task and reload it to evaluate that task:
    leaks task identity, off by default), ``eval_every`` ('epoch' | 'task'),
    ``loss_reduction`` ('mean' | 'sum'), ``task_boundaries`` (False: the
    optimizer always sees ``task_id=0``, a task-free stream), ``eval_tasks``
    ('all' | 'seen': skip tasks not trained yet, for long streams),
    ``vectorize`` (how runs share one compiled program: 'vmap' batches them,
    best on GPU/TPU; 'map' loops inside the program, best on CPU, where it
    costs ~2% over running the seeds one by one and 'vmap' 20-30%; 'auto'
    picks by backend; a single run is never batched).
    ``steps_per_task`` (0: ``epochs_per_task`` passes; N > 0: a task is N
    minibatch steps, drawn from consecutive shuffled passes),
    ``devices`` (0: every device; N: the first N), ``progress`` ('auto':
    per-epoch lines on CPU, per task on GPU/TPU | 'epoch' | 'task'),
    ``tensorboard`` (event files under workdir/tensorboard/),
    ``divergence_factor`` (a task whose loss grows by more than this
    factor from its first to its last epoch diverged; so did one whose
    last-epoch training accuracy is at chance in every run of a swept
    value: logged per task, and the run fails at its end naming them per
    swept value, exit status 2), ``expect_divergence`` (True: such tasks
    are expected, only warned about), ``save_mode`` ('background':
    each task's checkpoint and outputs are written by a background thread
    while the next task runs; 'blocking': before it starts; 'auto':
    background on GPU/TPU, blocking on CPU, where the host's cores are the
    device's and a background save slows the next task more than it saves).
  learner: 'gradient' (model + optax rule) or 'erbp' (spiking network with
    local learning). An 'erbp' config also sets ``snn``, every constant of
    the spiking network, as ``mpl_jax.train.spiking.snn_config(**overrides)``
    writes it (its defaults are the reference eRBP values, one table in
    ``spiking.SNN_DEFAULTS``); the learner rejects a missing or unknown
    field.
  evals: evaluators run after every task, by name (the accuracy matrix is
    always measured): ``ood_auc`` with ``dataset`` and ``test_subset`` scores
    the task's test set and that dataset's test set by uncertainty (mutual
    information over MC samples, or predictive entropy for deterministic
    models) and reports the OOD ROC-AUC.
  sweep: ``name`` of an optimizer hyperparameter and its ``values``: each
    value runs for every seed inside the same vmapped program.
  plot: write accuracy.png (and an evaluator's figure, e.g. items.png).

``python -m launch.main --config=... --workdir=... --dry_run`` prints the
resolved config, validated, with the run layout, without training.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'pmnist_meta'
  c.seed = 0
  c.num_seeds = 1
  c.data = ml_collections.ConfigDict(dict(
      stream='permuted', dataset='mnist', datasets=(), num_tasks=6,
      permute_first=True, train_subset=0, test_subset=0, scenario='class',
      classes_per_task=2, class_order='fixed', train_outputs='all',
      scale=1.0 / 255.0, mean=0.0, std=1.0, data_dir=''))
  c.model = ml_collections.ConfigDict(dict(
      name='binary_mlp', hidden=(4096, 4096), init_scale=0.05,
      bn_eval='batch', bn_momentum=0.9))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='metaplastic_adam', learning_rate=0.005, meta=1.35,
      weight_decay=1e-7))
  c.protocol = ml_collections.ConfigDict(dict(
      epochs_per_task=40, batch_size=100, eval_batch_size=1000,
      reset_optimizer='moments', per_task_bn=False, eval_every='epoch',
      loss_reduction='mean', task_boundaries=True, eval_tasks='all',
      vectorize='auto', steps_per_task=0, devices=0, progress='auto',
      tensorboard=True, divergence_factor=100.0, expect_divergence=False,
      save_mode='auto'))
  c.program = 'continual'
  c.learner = 'gradient'
  c.evals = ml_collections.ConfigDict()
  c.sweep = ml_collections.ConfigDict(dict(name='', values=(0.0,)))
  c.plot = True
  return c


# The base the other configs override: it is not an experiment of its own
# and claims nothing (launch/check_docs.py; tests/test_config_docs.py).
DOC_CHECK = ()
