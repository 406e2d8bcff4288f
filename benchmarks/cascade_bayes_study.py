"""Cascade recall vs the exact Bayes posterior (BUILD.md, issue 20).

  PYTHONPATH=$PWD python3 benchmarks/cascade_bayes_study.py unbalanced balanced

N = 6, f = 0.3, cue r = 0.2 (balanced), depth-2 cascade, M in {2,3,4,6,8},
320 trials per M = 5 seeds x 64 trials (independent keys), Bayes column
with 2048 Monte Carlo draws of the later patterns. Writes
/tmp/n20/study_EVENT.npz; prints the mean error per M and column.
"""
import os
import time, sys, json, numpy as np, jax
from mpl_jax.neuro import exact_bayes, assoc
f = 0.3; cue = assoc.cue_noise(0.2, f)
ms = (2, 3, 4, 6, 8)
out = os.environ.get('OUT', '/tmp/n20')
for event in sys.argv[1:]:
  t = time.time()
  e = exact_bayes.study(0 if event == 'unbalanced' else 1, n=6, f=f, ms=ms, trials=320, cue=cue, event=event, depth=2, samples=2048)
  print(event, 'seconds', time.time() - t, flush=True)
  os.makedirs(out, exist_ok=True)
  np.savez(f'{out}/study_{event}.npz', e=e, enum=np.zeros(len(ms), bool), ms=np.array(ms))
  print(e.reshape(len(ms), 5, 64, -1).mean(2).mean(1).round(3), flush=True)
