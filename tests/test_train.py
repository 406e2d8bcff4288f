"""End-to-end tests of the trainer on small real data (offline)."""

import json
import os

import chex
import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from _configs import tiny_config
from mpl_jax.data import datasets
from mpl_jax.data import streams
from mpl_jax.train import checkpoint
from mpl_jax.train import learner as learner_lib
from mpl_jax.train import program
from mpl_jax.train import train
from mpl_jax.train import validate


# Split digits: every pair of classes cut to one size, so all tasks share one
# compiled program (tasks of different sizes compile one each).
EQUAL_TASKS = {'data.train_subset': 240, 'data.test_subset': 40}


def _read(workdir):
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(l) for l in f]
  return (np.load(os.path.join(workdir, 'accuracy.npy')),
          np.load(os.path.join(workdir, 'curves.npy')), summary, rows)


def test_permuted_digits_end_to_end(tmp_path):
  c = tiny_config(plot=True)
  summary = train.train_and_evaluate(c, str(tmp_path))
  acc, curves, saved, rows = _read(str(tmp_path))
  assert acc.shape == (2, 3, 3)
  assert curves.shape == (2, 3 * 2, 3)
  assert not np.isnan(acc).any()
  # It learns: each task right after training beats chance (10 classes).
  assert np.all(np.diagonal(acc, axis1=1, axis2=2) > 0.5)
  assert len(rows) == 2 * 3
  for k in ('average_accuracy', 'backward_transfer', 'forgetting',
            'forward_transfer'):
    assert set(saved[k]) == {'mean', 'std'}
  assert saved == json.loads(json.dumps(summary))
  assert os.path.getsize(tmp_path / 'accuracy.png') > 10_000
  with open(tmp_path / 'config.json') as f:
    assert json.load(f)['data']['dataset'] == 'digits'
  s = np.load(tmp_path / 'stream.npz')
  perms = np.stack([s[f'task{t}_pixel_perm'] for t in range(3)], 1)
  assert perms.shape == (2, 3, 64)
  assert not np.array_equal(perms[0, 0], np.arange(64))  # first permuted
  assert not np.array_equal(perms[0], perms[1])  # per-seed permutations


@pytest.mark.parametrize('vectorize', ['vmap', 'map'])
def test_vmapped_seed_equals_single_run(tmp_path, vectorize):
  both = tiny_config(num_seeds=2, seed=3,
                     **{'protocol.vectorize': vectorize})
  train.train_and_evaluate(both, str(tmp_path / 'both'))
  single = tiny_config(num_seeds=1, seed=4)
  train.train_and_evaluate(single, str(tmp_path / 'single'))
  acc2, cur2, _, rows2 = _read(str(tmp_path / 'both'))
  acc1, cur1, _, rows1 = _read(str(tmp_path / 'single'))
  np.testing.assert_allclose(acc2[1], acc1[0], atol=2 / 360)
  loss2 = [r['train_loss'] for r in rows2 if r['seed'] == 4]
  loss1 = [r['train_loss'] for r in rows1]
  np.testing.assert_allclose(loss2, loss1, rtol=1e-4)


def _dot_batch_dims(jaxpr):
  """Batch dimensions of every dot_general in a jaxpr (sub-jaxprs included)."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'dot_general':
      found.append(eqn.params['dimension_numbers'][1][0])
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      found += _dot_batch_dims(sub)
  return found


@pytest.mark.parametrize('vectorize', ['vmap', 'map', 'auto'])
def test_runs_axis_matches_per_run_calls(vectorize):
  fn = lambda x, w, shift: jnp.tanh(x @ w) + shift
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 5))
  w = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 2))
  mapped = program.runs_axis(fn, (0, 0, None), vectorize)
  out = jax.jit(mapped)(x, w, 0.5)
  for i in range(3):
    np.testing.assert_allclose(out[i], fn(x[i], w[i], 0.5), rtol=1e-6)
  # One run is never batched: its program holds no batched matmul (a batch
  # of one made XLA:CPU pick slow dot layouts).
  one = jax.make_jaxpr(mapped)(x[:1], w[:1], 0.5).jaxpr
  assert _dot_batch_dims(one) == [()]
  several = _dot_batch_dims(jax.make_jaxpr(mapped)(x, w, 0.5).jaxpr)
  batched = vectorize == 'vmap' or (
      vectorize == 'auto' and jax.default_backend() != 'cpu')
  assert several == ([(0,)] if batched else [()])


def test_resume_gives_uninterrupted_results(tmp_path):
  # The reference run saves before each next task, the resumed one in the
  # background: their files must be the same.
  c = tiny_config(**{'protocol.save_mode': 'background'})
  train.train_and_evaluate(tiny_config(**{'protocol.save_mode': 'blocking'}),
                           str(tmp_path / 'full'))
  part = str(tmp_path / 'part')
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(c, part, _interrupt_after_task=1)
  acc_part = np.load(os.path.join(part, 'accuracy.npy'))
  assert not np.isnan(acc_part[:, 0]).any() and np.isnan(acc_part[:, 1]).all()
  train.train_and_evaluate(c, part)
  a_full, c_full, s_full, r_full = _read(str(tmp_path / 'full'))
  a_part, c_part, s_part, r_part = _read(part)
  np.testing.assert_array_equal(a_full, a_part)
  np.testing.assert_array_equal(c_full, c_part)
  assert r_full == r_part and s_full == s_part
  def last(w):
    ck = checkpoint.Checkpointer(os.path.join(w, 'checkpoints'))
    try:
      return ck.read(3)
    finally:
      ck.close()
  z_full, z_part = last(str(tmp_path / 'full')), last(part)
  assert jax.tree.structure(z_full) == jax.tree.structure(z_part)
  jax.tree.map(np.testing.assert_array_equal, z_full, z_part)
  # A different config in the same workdir is refused.
  with pytest.raises(ValueError, match='different config'):
    train.train_and_evaluate(tiny_config(seed=9), part)


def test_sweep_runs_equal_separate_runs(tmp_path):
  swept = tiny_config(num_seeds=1, **{'sweep.name': 'meta',
                                      'sweep.values': (0.0, 2.0)})
  summary = train.train_and_evaluate(swept, str(tmp_path / 'sweep'))
  assert set(summary['sweep']['groups']) == {'meta=0.0', 'meta=2.0'}
  acc_s, _, _, rows_s = _read(str(tmp_path / 'sweep'))
  for i, m in enumerate((0.0, 2.0)):
    # Same code path (injected hyperparameter), one value, not vmapped with
    # the other: must match run i of the sweep.
    one = tiny_config(num_seeds=1, **{'sweep.name': 'meta',
                                      'sweep.values': (m,)})
    train.train_and_evaluate(one, str(tmp_path / f'm{i}'))
    acc_1, _, _, rows_1 = _read(str(tmp_path / f'm{i}'))
    np.testing.assert_allclose(acc_s[i], acc_1[0], atol=2 / 360)
    np.testing.assert_allclose(
        [r['train_loss'] for r in rows_s if r['run'] == i],
        [r['train_loss'] for r in rows_1], rtol=1e-4)


def test_per_task_bn_and_full_precision_model(tmp_path):
  c = tiny_config(**{'protocol.per_task_bn': True, 'model.name': 'mlp',
                     'model.bn_eval': 'running', 'num_seeds': 1})
  train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, _ = _read(str(tmp_path))
  assert not np.isnan(acc).any() and acc[0, 0, 0] > 0.5


@pytest.mark.parametrize('override, match', [
    ({'optimizer.name': 'adamw_typo'}, 'unknown optimizer'),
    ({'optimizer.learning_rate': -1.0}, 'learning_rate'),
    ({'data.dataset': 'imagenet_typo'}, 'unknown dataset'),
    ({'model.name': 'resnet'}, 'unknown model'),
    ({'protocol.batch_size': 0}, 'batch_size'),
    ({'protocol.reset_optimizer': 'sometimes'}, 'reset_optimizer'),
    ({'protocol.save_mode': 'async'}, 'save_mode'),
    ({'sweep.name': 'lr', 'sweep.values': (0.1,)}, 'sweep.name'),
    ({'model.hidden': (32, -4)}, 'hidden'),
])
def test_bad_config_is_refused_before_anything_runs(tmp_path, override,
                                                    match):
  with pytest.raises(validate.ConfigError, match=match):
    train.train_and_evaluate(tiny_config(**override), str(tmp_path))
  assert not os.path.exists(tmp_path / 'checkpoints')


def test_optimizer_kwarg_typo_is_named(tmp_path):
  c = tiny_config()
  c.optimizer.metaa = 1.0
  with pytest.raises(validate.ConfigError, match='metaa'):
    train.train_and_evaluate(c, str(tmp_path))


def test_non_finite_loss_is_reported(tmp_path):
  c = tiny_config(**{'data.scale': 1e38, 'model.name': 'mlp'})
  with pytest.raises(FloatingPointError, match='non-finite'):
    train.train_and_evaluate(c, str(tmp_path))


def test_reset_moments_keeps_other_state():
  ds = datasets.load_dataset('digits')
  stream = streams.permuted_stream(ds, 2, [0])
  c = tiny_config(**{'protocol.reset_optimizer': 'moments'})
  l = train.make_learner(c, stream, None)
  st = l.init(jnp.int32(0))
  grads = jax.tree.map(jnp.ones_like, st.params)
  _, opt = l.tx.update(grads, st.opt_state, st.params, task_id=0)
  st = st._replace(opt_state=opt)
  adam = lambda s: [x for x in jax.tree.leaves(
      s, is_leaf=lambda n: isinstance(n, optax.ScaleByAdamState))
                    if isinstance(x, optax.ScaleByAdamState)][0]
  assert int(adam(st.opt_state).count) == 1
  st2 = l.start_task(st, jnp.int32(0), 1)
  assert int(adam(st2.opt_state).count) == 0
  chex.assert_trees_all_equal(adam(st2.opt_state).mu,
                              jax.tree.map(jnp.zeros_like, st.params))
  chex.assert_trees_all_equal(st2.params, st.params)


def test_sequential_stream_real_datasets(tmp_path):
  """MNIST (bundled subset) -> digits is not the same size: refused; MNIST
  subset -> permuted copy works as a sequential pair of the same size."""
  mn = datasets.load_dataset('mnist_5k')
  dg = datasets.load_dataset('digits')
  with pytest.raises(ValueError, match='input size'):
    streams.sequential_stream([mn, dg], [0])
  c = tiny_config(**{'data.stream': 'sequential',
                     'data.datasets': ('mnist_5k', 'mnist_5k'),
                     'data.scale': 1 / 255, 'data.train_subset': 1000,
                     'data.test_subset': 500, 'num_seeds': 1})
  train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, rows = _read(str(tmp_path))
  assert acc.shape == (1, 2, 2) and acc[0, 0, 0] > 0.25  # chance: 0.1
  assert [r['task_name'] for r in rows] == ['mnist_5k', 'mnist_5k']


def test_mnist_then_fashion_mnist_through_tfds(fmnist_data_dir, tmp_path):
  """The sequential pair on real data: bundled MNIST subset, then the TFDS
  fashion_mnist prepared offline; MNIST accuracy drops after FMNIST."""
  c = tiny_config(**{'data.stream': 'sequential',
                     'data.datasets': ('mnist_5k', 'fashion_mnist'),
                     'data.data_dir': str(fmnist_data_dir),
                     'data.scale': 1 / 255, 'data.train_subset': 2000,
                     'data.test_subset': 500, 'num_seeds': 1,
                     'model.hidden': (128,), 'optimizer.meta': 0.0,
                     'protocol.epochs_per_task': 3})
  train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, rows = _read(str(tmp_path))
  assert [r['task_name'] for r in rows] == ['mnist_5k', 'fashion_mnist']
  assert acc[0, 0, 0] > 0.3 and acc[0, 1, 1] > 0.3  # chance: 0.1
  assert acc[0, 1, 0] < acc[0, 0, 0]  # forgetting without metaplasticity


@pytest.mark.parametrize('scenario', ['class', 'task', 'domain'])
def test_split_streams_end_to_end(tmp_path, scenario):
  c = tiny_config(**EQUAL_TASKS,
                  **{'data.stream': 'split', 'data.scenario': scenario,
                     'data.class_order': 'random', 'data.num_tasks': 3,
                     'num_seeds': 2, 'optimizer.meta': 0.0,
                     'protocol.eval_tasks': 'seen', 'protocol.batch_size': 16,
                     # A single 10-way head learns a new pair more slowly.
                     'protocol.epochs_per_task': 6 if scenario == 'class'
                                                 else 3,
                     'protocol.task_boundaries': False})
  summary = train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, _ = _read(str(tmp_path))
  assert np.isnan(acc[:, 0, 1:]).all()  # unseen tasks were not evaluated
  assert summary['forward_transfer']['mean'] is None
  diag = np.diagonal(acc, axis1=1, axis2=2)
  if scenario == 'task':
    assert diag.min() > 0.6
  elif scenario == 'class':
    # Single head, no replay: the last task wipes out the first ones.
    assert diag.min() > 0.6 and acc[:, -1, 0].max() < 0.5
  else:
    assert diag.min() > 0.6
  s = np.load(tmp_path / 'stream.npz')
  if scenario == 'task':
    assert s['task0_class_mask'].shape == (2, 10)
    assert s['task0_class_mask'].sum(1).tolist() == [2, 2]


def test_labels_trick_trains_on_the_task_outputs_and_tests_on_all(tmp_path):
  """train_outputs='task': the training loss is the 2-way cross-entropy of
  the task's own outputs (smaller than the 10-way one of the same runs), the
  test takes the argmax over all 10 outputs, and validation guards it."""
  over = {**EQUAL_TASKS, 'data.stream': 'split', 'data.scenario': 'class',
          'data.num_tasks': 2, 'optimizer.meta': 0.0,
          'protocol.batch_size': 16, 'protocol.epochs_per_task': 1,
          'protocol.eval_every': 'task'}
  losses = {}
  for outputs in ('all', 'task'):
    d = tmp_path / outputs
    train.train_and_evaluate(
        tiny_config(**over, **{'data.train_outputs': outputs}), str(d))
    losses[outputs] = np.load(d / 'losses.npy')
    s = np.load(d / 'stream.npz')
    assert ('task0_train_class_mask' in s) == (outputs == 'task')
  assert (losses['task'][:, 0, 0] < losses['all'][:, 0, 0]).all()
  assert (losses['task'][:, 0, 0] < np.log(2) + 0.1).all()
  with pytest.raises(validate.ConfigError, match="scenario 'class' only"):
    train.train_and_evaluate(
        tiny_config(**{**over, 'data.scenario': 'task',
                       'data.train_outputs': 'task'}), str(tmp_path / 'x'))


def test_task_incremental_mask_restricts_predictions():
  logits = jnp.array([[5.0, 1.0, 2.0, 9.0], [0.0, 3.0, 1.0, 2.0]])
  mask = jnp.array([False, True, True, False])
  pred = learner_lib.predict_class(learner_lib.mask_logits(logits, mask))
  np.testing.assert_array_equal(pred, [2, 1])
  mc = jnp.stack([logits, logits + 1.0])  # [K, B, C] Monte-Carlo logits
  pred = learner_lib.predict_class(learner_lib.mask_logits(mc, mask))
  np.testing.assert_array_equal(pred, [2, 1])
  loss = learner_lib.cross_entropy(learner_lib.mask_logits(logits, mask),
                                   jnp.array([1, 2]), 'mean')
  p = jax.nn.softmax(jnp.array([[1.0, 2.0], [3.0, 1.0]]))
  np.testing.assert_allclose(loss, -np.mean(np.log([p[0, 0], p[1, 1]])),
                             rtol=1e-5)


def test_engram_gated_bnn_split_digits(tmp_path):
  """The engram protocol end to end: per-seed engrams differ, results saved."""
  c = tiny_config(**EQUAL_TASKS,
                  **{'data.stream': 'split', 'data.scenario': 'domain',
                     'data.num_tasks': 0, 'num_seeds': 2,
                     'protocol.batch_size': 16})
  c.optimizer = dict(name='engram_metaplastic_adam', learning_rate=0.005,
                     meta=1.35, p=0.5, granularity='unit', resample='task',
                     weight_decay=0.0)
  summary = train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, _ = _read(str(tmp_path))
  assert acc.shape == (2, 5, 5) and not np.isnan(acc).any()
  assert summary['average_accuracy']['mean'] > 0.5  # 2-way head
  # The trainer gave each seed its own engram.
  ds = datasets.load_dataset('digits')
  stream = streams.split_stream(ds, [0, 1], scenario='domain')
  l = train.make_learner(c, stream, None)
  st = jax.vmap(l.init)(jnp.arange(2, dtype=jnp.int32))
  g = jax.tree.map(lambda x: x, st.params)
  _, opt = jax.vmap(lambda s, gr: l.tx.update(gr, s.opt_state, s.params,
                                              task_id=0))(st, g)
  engrams = optax.tree_utils.tree_get(opt, 'engram')
  leaf = jax.tree.leaves(engrams)[0]
  assert not np.array_equal(leaf[0], leaf[1])


def test_task_free_mesu_with_ood_on_real_data(fmnist_data_dir, tmp_path):
  """MESU's protocol end to end: online (batch 1), no task boundary given to
  the rule, Bayesian MLP with MC samples, OOD ROC-AUC vs Fashion-MNIST."""
  from configs import pmnist_mesu
  c = pmnist_mesu.get_config('mesu')
  c.num_seeds = 2
  c.data.dataset = 'mnist_5k'
  c.data.num_tasks = 2
  c.data.train_subset = 600
  c.data.test_subset = 200
  c.data.data_dir = str(fmnist_data_dir)
  c.evals.ood_auc = dict(dataset='fashion_mnist', test_subset=200)
  c.plot = False
  c.sweep.name = 'memory_window'
  c.sweep.values = (3e4, 1e15)
  summary = train.train_and_evaluate(c, str(tmp_path))
  acc, _, _, rows = _read(str(tmp_path))
  assert acc.shape == (4, 2, 2) and np.isnan(acc[:, 0, 1]).all()
  assert acc[:, 0, 0].min() > 0.5  # 600 online steps, 10 classes
  groups = summary['sweep']['groups']
  for g in groups.values():
    assert 0.0 <= g['ood_auc']['mean'] <= 1.0
    assert len(g['average_accuracy_after_task']['mean']) == 2
  assert all('ood_auc' in r for r in rows)
  auc = np.load(tmp_path / 'ood_auc.npy')
  assert auc.shape == (4, 2) and np.all(auc > 0.5)  # better than chance
