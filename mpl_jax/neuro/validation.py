"""Config checks of the neuro simulations (before anything is compiled)."""

from __future__ import annotations

from mpl_jax import config_checks
from mpl_jax.neuro import assoc
from mpl_jax.neuro import cascade
from mpl_jax.neuro import calcium as ca_lib

CALCIUM_PROTOCOLS = ('pairing', 'rate', 'stdp', 'sliding', 'neuron')


ConfigError = config_checks.ConfigError
_get = config_checks.require


def _num(cfg, path, *, lo=None, hi=None, integer=False, strict=False):
  v = _get(cfg, path)
  kinds = (int,) if integer else (int, float)
  if isinstance(v, bool) or not isinstance(v, kinds):
    kind = 'an integer' if integer else 'a number'
    raise ConfigError(f'config.{path} must be {kind}, got {v!r}.')
  if lo is not None and (v <= lo if strict else v < lo):
    raise ConfigError(f'config.{path} must be {">" if strict else ">="} '
                      f'{lo}, got {v!r}.')
  if hi is not None and v > hi:
    raise ConfigError(f'config.{path} must be <= {hi}, got {v!r}.')
  return v


def _choice(cfg, path, choices):
  return config_checks.choice(cfg, path, tuple(choices))


def params(cfg, path, base: ca_lib.CalciumParams) -> ca_lib.CalciumParams:
  """``base`` with the CalciumParams overrides at ``config.<path>``."""
  over = dict(_get(cfg, path)) if path else {}
  unknown = sorted(set(over) - set(base._fields))
  if unknown:
    raise ConfigError(f'config.{path} has unknown CalciumParams fields '
                      f'{unknown}; known: {list(base._fields)}.')
  for k, v in over.items():
    if isinstance(v, bool) or not isinstance(v, (int, float)):
      raise ConfigError(f'config.{path}.{k} must be a number, got {v!r}.')
  return base._replace(**{k: float(v) for k, v in over.items()})


def validate_calcium(config) -> None:
  """Raises :class:`ConfigError` naming the first bad field."""
  _choice(config, 'program', ('calcium',))
  _choice(config, 'preset', tuple(ca_lib.PRESETS))
  base = params(config, 'params', ca_lib.PRESETS[config.preset])
  if not base.dt > 0:
    raise ConfigError(f'config.params.dt must be > 0, got {base.dt}.')
  protos = tuple(_get(config, 'protocols'))
  if not protos:
    raise ConfigError('config.protocols is empty.')
  for p in protos:
    if p not in CALCIUM_PROTOCOLS:
      raise ConfigError(f'config.protocols: unknown protocol {p!r}; known: '
                        f'{CALCIUM_PROTOCOLS}.')
    params(config, f'{p}.params', base)
  if 'pairing' in protos:
    _num(config, 'pairing.num', lo=1, integer=True)
    _num(config, 'pairing.freq_hz', lo=0, strict=True)
    _num(config, 'pairing.num_pulses', lo=1, integer=True)
  for p, lo in (('rate', 'f_min'), ('sliding', 'f_min')):
    if p in protos:
      _num(config, f'{p}.{lo}', lo=0, strict=True)
      if _num(config, f'{p}.f_max', lo=0, strict=True) <= config[p][lo]:
        raise ConfigError(f'config.{p}.f_max must be > config.{p}.f_min.')
      _num(config, f'{p}.num', lo=2, integer=True)
      _num(config, f'{p}.num_pulses', lo=1, integer=True)
  if 'stdp' in protos:
    _num(config, 'stdp.num', lo=1, integer=True)
    _num(config, 'stdp.freq_hz', lo=0, strict=True)
    _num(config, 'stdp.num_pairs', lo=1, integer=True)
  if 'sliding' in protos:
    names = tuple(_get(config, 'sliding.condition_names'))
    phases = tuple(_get(config, 'sliding.condition_phases'))
    if len(names) != len(phases) or not names:
      raise ConfigError('config.sliding.condition_names and '
                        'condition_phases must be non-empty and as long.')
    for i, ph in enumerate(phases):
      for j, item in enumerate(ph):
        if len(item) != 2 or min(item) < 0:
          raise ConfigError(f'config.sliding.condition_phases[{i}][{j}] must '
                            f'be (rate_hz >= 0, duration_s >= 0), got '
                            f'{item!r}.')
  if 'neuron' in protos:
    n = _num(config, 'neuron.num_inputs', lo=2, integer=True)
    _num(config, 'neuron.group_size', lo=1, hi=n - 1, integer=True)
    for k in ('rate_1', 'rate_2', 'syn_gain', 'tau_m', 'tau_syn',
              'duration_s', 'record_ms'):
      _num(config, f'neuron.{k}', lo=0, strict=True)
    for k in ('corr_1', 'corr_2'):
      _num(config, f'neuron.{k}', lo=0, hi=1)
    _num(config, 'neuron.seed', lo=0, integer=True)
    for v in _get(config, 'neuron.metaplastic'):
      if not isinstance(v, bool):
        raise ConfigError('config.neuron.metaplastic must hold booleans, got '
                          f'{v!r}.')


def validate_assoc(config) -> None:
  """Raises :class:`ConfigError` naming the first bad field."""
  _choice(config, 'program', ('assoc',))
  _num(config, 'seed', lo=0, integer=True)
  _num(config, 'n', lo=2, integer=True)
  _num(config, 'f', lo=0, hi=0.5, strict=True)
  _num(config, 'trials', lo=1, integer=True)
  ms = tuple(_get(config, 'ms'))
  if not ms or any(isinstance(m, bool) or not isinstance(m, int) or m < 2
                   for m in ms):
    raise ConfigError(f'config.ms must be integers >= 2, got {ms!r}.')
  _num(config, 'cue.r', lo=0, hi=0.5, strict=True)
  _choice(config, 'cue.kind', ('balanced', 'symmetric'))
  rules = tuple(_get(config, 'rules'))
  for r in rules:
    if r not in assoc.RULES + ('cascade',):
      raise ConfigError(f'config.rules: unknown rule {r!r}; known: '
                        f'{assoc.RULES + ("cascade",)}.')
  if not rules:
    raise ConfigError('config.rules is empty.')
  for d in _get(config, 'decoders'):
    if d not in ('naive', 'corr', 'oracle'):
      raise ConfigError(f'config.decoders: unknown decoder {d!r}.')
  _choice(config, 'dynamics.mode', ('gibbs', 'greedy'))
  sweeps = _num(config, 'dynamics.sweeps', lo=1, integer=True)
  _num(config, 'dynamics.burn', lo=0, hi=sweeps - 1, integer=True)
  if 'cascade' in rules:
    _num(config, 'cascade.depth', lo=1, integer=True)
    _num(config, 'cascade.x', lo=0, hi=0.99, strict=True)
    _num(config, 'cascade.num_bins', lo=1, integer=True)
    _choice(config, 'cascade.rule', cascade.EVENT_TABLES)
    if 'role' in config.cascade:
      _choice(config, 'cascade.role', ('post', 'pre'))
  if _get(config, 'exact.enabled'):
    _num(config, 'exact.n', lo=2, hi=14, integer=True)
    _num(config, 'exact.f', lo=0, hi=0.5, strict=True)
    _num(config, 'exact.trials', lo=1, integer=True)
    ems = tuple(_get(config, 'exact.ms'))
    if not ems or min(ems) < 2:
      raise ConfigError(f'config.exact.ms must be integers >= 2, got {ems}.')
    for r in _get(config, 'exact.rules'):
      if r not in assoc.RULES + ('cascade',):
        raise ConfigError(f'config.exact.rules: unknown rule {r!r}.')
    if 'cascade' in config.exact.rules:
      _num(config, 'cascade.depth', lo=1, integer=True)
