"""The machine-learning layer: training data, training and trained-model files.

* :mod:`fast.ml.datasets`: exact labels on disk (HDF5 with a content hash), generated
  resumably;
* :mod:`fast.ml.training`: force-field training, resumable to the same weights, and
  :mod:`fast.ml.standardise`, its standardised coordinates;
* :mod:`fast.ml.models`: model files (safe loading) and the trained network as a force field;
* :mod:`fast.ml.storage`: crash-safe work in progress (whole-file chunks joined into HDF5),
  used by datasets here and trajectories in :mod:`fast.runs`.

It builds on the physics twin (:mod:`fast.nn`, :mod:`fast.ed`, :mod:`fast.dynamics`, ...) and
on :mod:`reference`; the application layer (:mod:`fast.runs`) builds on it.
"""
