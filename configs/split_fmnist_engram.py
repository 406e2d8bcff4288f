r"""Split Fashion-MNIST, engram-gated metaplastic BNN and its controls (SPEC §4).

  python -m launch.main --config=configs/split_fmnist_engram.py:METHOD,SCENARIO \
      --workdir=runs/split_METHOD_SCENARIO

METHOD is one of
  engram  binarized MLP, metaplastic Adam + stochastic engram gate
          (``engram_metaplastic_adam``: per task a random half of the synapses
          is plastic, resampled at each task boundary);
  meta    binarized MLP, metaplastic Adam (no engram);
  bnn     binarized MLP, plain Adam (meta = 0);
  fp      full-precision MLP (Linear-BN-ReLU), plain Adam;
SCENARIO is ``class`` (class-incremental, one 10-way head), ``labels``
(class-incremental with the "labels trick": the training loss sees only the
current task's two outputs, the test takes the argmax over all ten; weight
decay off, see below), ``domain`` (domain-incremental, label = position in
the task, 2-way head) or ``task`` (task-incremental, masked logits).

``labels`` is this library's reading, not the paper's confirmed protocol
(its text was not available; SPEC §4): the plain ``class`` scenario (one
head, no replay, all ten outputs trained) ends at 20 % for every method, as
the last task's training pushes every earlier class's logits down. Under the
labels trick the earlier classes' output units get no loss gradient; with
Adam, a coupled weight decay would then be the only gradient of those units
and Adam's normalisation turns it into full-size steps toward zero (1 -> 0.6
in 100 steps at lr 0.005), so ``weight_decay`` is 0 in this scenario.
Measured (5 seeds, 2-core CPU, about 80 s each): average accuracy after the
5th task engram 18.9 ± 0.5 %, meta 20.4 ± 1.4 %, bnn 19.1 ± 1.7 %, fp
20.0 ± 2.2 % (with ``--config.model.bn_eval=running``, engram 15.4 ±
1.6 %): this reading does not reproduce the paper's "> 20 %" either. After
task 2 the first task keeps about half of its accuracy (engram 53.4 %,
meta 48.6 %), then the tasks' outputs, never trained against each other,
compete and the earlier tasks fall to near chance (BUILD.md).

Five 2-class tasks (classes 0-1, 2-3, ...), BNN 784-512-512-(10|2), batch
100, 5 epochs per task, lr 0.005, 3 seeds vmapped. meta = 5 (not the paper's
1.35): with 600 steps per task instead of 24,000 the hidden weights stay small
and 1.35 barely acts (see configs/quickstart.py). The engram gate's exact form
is unconfirmed in the paper (SPEC §4): this is mpl_jax's reading, documented
in ``mpl_jax.scale_by_engram_gate``.

Offline (Fashion-MNIST from Debian's files). About 1-2 minutes per
method/scenario on 2 idle CPU cores (441-474 s when other jobs loaded them
to 10-13). Expected: class-incremental stays low for all
methods without replay (the last task dominates the single head); the
metaplastic and engram-gated BNNs keep more of the earlier tasks than the
plain BNN in the domain-incremental scenario.

Measured (redesigned trainer, 2-core CPU, JAX 0.10.2, recorded 2026-12-01;
50-110 s per run on the otherwise idle machine), average accuracy after the
5th task, 3 seeds, mean ± std: domain engram 89.2 ± 0.5 %, meta
88.1 ± 1.8 %, bnn 87.8 ± 1.0 %, fp 88.5 ± 0.5 %: the engram-gated BNN is
the best row but the four are within about two standard deviations of
each other, so the expectation is met in kind only; class 20.0 ± 0.0 % for
every method. The labels scenario above used 5 seeds:

  python -m launch.main --config=configs/split_fmnist_engram.py:METHOD,labels \
      --config.num_seeds=5 --workdir=runs/split_METHOD_labels

BUILD.md has the whole table and the memory comparison
(benchmarks/bench_engram_memory.py).
"""

from configs import default

METHODS = ('engram', 'meta', 'bnn', 'fp')
SCENARIOS = ('class', 'labels', 'domain', 'task')


def get_config(arg: str = 'engram,class'):
  parts = [p.strip() for p in arg.split(',')] if arg else []
  method = parts[0] if parts else 'engram'
  scenario = parts[1] if len(parts) > 1 else 'class'
  if method not in METHODS:
    raise ValueError(f'method must be one of {METHODS}, got {method!r}')
  c = default.get_config()
  c.name = f'split_fmnist_{method}_{scenario}'
  c.num_seeds = 3
  c.data.stream = 'split'
  c.data.dataset = 'fashion_mnist'
  if scenario not in SCENARIOS:
    raise ValueError(f'scenario must be one of {SCENARIOS}, got {scenario!r}')
  labels = scenario == 'labels'
  c.data.scenario = 'class' if labels else scenario
  c.data.train_outputs = 'task' if labels else 'all'
  c.data.classes_per_task = 2
  c.data.num_tasks = 0
  c.model.hidden = (512, 512)
  c.protocol.epochs_per_task = 5
  c.protocol.eval_every = 'task'
  if method == 'engram':
    c.optimizer = dict(name='engram_metaplastic_adam', learning_rate=0.005,
                       meta=5.0, p=0.5, granularity='synapse',
                       resample='task', weight_decay=1e-7)
  elif method == 'meta':
    c.optimizer.meta = 5.0
  elif method == 'bnn':
    c.optimizer.meta = 0.0
  else:
    c.model.name = 'mlp'
    c.optimizer = dict(name='adam', learning_rate=0.005, weight_decay=1e-7)
  if labels:
    c.optimizer.weight_decay = 0.0
  return c


# What the docstring claims, checked by launch/check_docs.py (format in its
# docstring); the quotes must stay in the docstring.
_DOMAIN = (('engram', 89.2, 0.5), ('meta', 88.1, 1.8), ('bnn', 87.8, 1.0),
           ('fp', 88.5, 0.5))
_LABELS = (('engram', 18.9, 0.5), ('meta', 20.4, 1.4), ('bnn', 19.1, 1.7),
           ('fp', 20.0, 2.2))
_TIME = dict(tier='long', seconds=110, time_quote='50-110 s per run',
             measured='otherwise idle 2-core x86-64 CPU, JAX 0.10.2, '
             'recorded 2026-12-01; not re-measured since')
DOC_CHECK = tuple(
    dict(command='python -m launch.main '
         f'--config=configs/split_fmnist_engram.py:{m},domain '
         f'--workdir=runs/split_{m}_domain',
         claims=(dict(metric='average_accuracy', scale=100, expected=mean,
                      spread=std, quote=f'{m} {mean} ± {std} %'),),
         **_TIME) for m, mean, std in _DOMAIN) + tuple(
    dict(command='python -m launch.main '
         f'--config=configs/split_fmnist_engram.py:{m},labels '
         f'--config.num_seeds=5 --workdir=runs/split_{m}_labels',
         claims=(dict(metric='average_accuracy', scale=100, expected=mean,
                      spread=std, quote=f'{m} {mean} ± {std} %'),),
         **dict(_TIME, time_quote='about 80 s each', seconds=80))
    for m, mean, std in _LABELS)
