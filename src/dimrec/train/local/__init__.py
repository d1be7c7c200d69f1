"""The local engine: training on this machine (DuckDB for the window's matrix, SciPy and
Numba kernels for the similarity).

- :mod:`~dimrec.train.local.engine` — :class:`LocalEngine`, the engine contract of
  :mod:`dimrec.train.base`;
- :mod:`~dimrec.train.local.matrix` — the window's user × item matrix and popularity;
- :mod:`~dimrec.train.local.algorithms` — each algorithm's kernel, after the weighting of
  :mod:`~dimrec.train.local.weighting`: :mod:`~dimrec.train.local.cosine` (exact and DIMSUM,
  compiled in :mod:`~dimrec.train.local.kernels`), :mod:`~dimrec.train.local.rp3beta` and
  :mod:`~dimrec.train.local.ease` (their top-K in :mod:`~dimrec.train.local.dense_topk`);
- :mod:`~dimrec.train.local.sampling` — DIMSUM's sample, compiled;
  :mod:`~dimrec.train.local.workers` — the threads of one cosine computation, and
  :mod:`~dimrec.train.local.intrinsics` — the two LLVM intrinsics its kernels use.
"""
