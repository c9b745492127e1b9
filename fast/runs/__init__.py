"""The application layer: experiment runs from one file, in resumable run folders.

* :mod:`fast.runs.runner`: the generic runner (stages, fingerprints, preflight, resumption);
* :mod:`fast.runs.registry`: the workflows by ``[experiment] kind``;
* :mod:`fast.runs.quench`, :mod:`fast.runs.voltage`, :mod:`fast.runs.laser`: the workflows of
  papers 002-004, 001 and 000, each with its ``*_report`` module; :mod:`fast.runs.coarsening`:
  thermal quenches at scale with a force provider chosen by name and every domain-length
  estimator (the growth-exponent question of papers 002-004);
* :mod:`fast.runs.campaign`, :mod:`fast.runs.units`, :mod:`fast.runs.clusters`: sweeps of
  many runs, units of work finer than a run, and where they run (Dask, SLURM, PBS);
* :mod:`fast.runs.trajectories`: checkpointed dynamics runs into trajectory files;
* :mod:`fast.runs.trained`, :mod:`fast.runs.settings`, :mod:`fast.runs.analysis`,
  :mod:`fast.runs.report`: what the workflows share.

It builds on :mod:`fast.ml` and the physics twin; only the command line (:mod:`fast.cli`)
builds on it.
"""
