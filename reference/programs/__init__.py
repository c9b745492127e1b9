"""Exact-only runs of the papers' workflows in plain NumPy: no torch, no training.

Each module is a program with a run folder, a settings file and one-line errors, built from
the physics topics of :mod:`reference` and the plumbing of :mod:`reference.runio`:

* :mod:`reference.programs.quench`: exact-diagonalisation Langevin quench (papers 002-004),
  ``python -m reference.programs.quench --config specs/experiments/exact_quench.toml``;
* :mod:`reference.programs.voltage`: NEGF-Brownian dynamics between two electrodes (paper 001),
  ``python -m reference.programs.voltage --config specs/experiments/exact_voltage.toml``;
* :mod:`reference.programs.laser`: Ehrenfest melting and Langevin recovery (paper 000),
  ``python -m reference.programs.laser --config specs/experiments/exact_laser.toml``.

They are the oracle's end-to-end use: what a physicist runs to check the :mod:`fast` workflows
(``python -m fast run``) or their own code against the exact answer on a small lattice.
Their default run folders are ``runs/exact_quench``, ``runs/exact_voltage`` and
``runs/exact_laser``.
"""
