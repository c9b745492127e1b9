"""Training data on disk: exact labels of the quench papers' protocol, resumable, with a hash.

A dataset is a set of configurations ``Q`` ``(n, Lx, Ly)`` with their exact forces ``F`` and
densities ``n``, plus attributes (the generating configuration as JSON, the code version and a
SHA-256 hash of the arrays). Papers 002, 003 and 004 train on a 40x40 lattice: 200 random
configurations and 400 snapshots of exact-force Langevin quenches (paper 003 App. B).
:func:`generate_quench_dataset` produces that set with the physics twin (batched ED, the BAOAB
integrator). Generation writes chunks into the folder ``<path>.partial``
(:class:`fast.ml.storage.ChunkFolder`), each together with the generator's resume point
(distortions, momenta, time, generator state), so a killed generation resumes and produces the
same file as an uninterrupted one; :func:`finalise` joins the chunks into ``<path>``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

import fast
from fast import dynamics, ed
from fast.ml.storage import ChunkFolder, content_hash, partial_path
from fast.model import elastic_force
from reference import ed as reference_ed
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.runio import non_negative_int, positive_int, reading
from reference.sections import Langevin, Physics

__all__ = [
    "FIELDS",
    "Dataset",
    "DatasetSettings",
    "QuenchDatasetConfig",
    "append_chunk",
    "content_hash",
    "dataset_finished",
    "dynamics_checkpoint",
    "electrons_of",
    "exact_labels",
    "finalise",
    "finish_dataset",
    "generate_quench_dataset",
    "hot_start_spread",
    "last_state",
    "load_dataset",
    "open_partial",
    "partial_path",
    "physics_of",
    "resume_dynamics",
]

FIELDS = ("Q", "F", "n")
"""The arrays of every dataset."""
PART_FORMAT = "holstein-mlff/partial-dataset/2"


@attrs.frozen(eq=False)
class Dataset:
    """Configurations with their exact forces and densities.

    Attributes
    ----------
    Q, F, n : (n_samples, Lx, Ly) float64
    attributes : dict
        ``config`` (JSON), ``code_version``, ``content_hash``, ``kind`` and any extras.
    """

    Q: NDArray[np.float64]
    F: NDArray[np.float64]
    n: NDArray[np.float64]
    attributes: Mapping[str, Any]

    def __len__(self) -> int:
        return int(self.Q.shape[0])


def _folder(path: str | os.PathLike[str]) -> ChunkFolder:
    return ChunkFolder(path, "dataset", "Q")


def dataset_finished(path: str | os.PathLike[str]) -> bool:
    """Whether the dataset at ``path`` is finished; a work folder left beside a finished file
    (a kill between the final rename and its removal) is removed
    (:meth:`fast.ml.storage.ChunkFolder.finished`).

    Parameters
    ----------
    path : path-like
        The dataset's final HDF5 file (its work folder is ``<path>.partial``).

    Returns
    -------
    bool
        True if the final file exists and no generation is in progress.
    """
    return _folder(path).finished()


def open_partial(
    path: str | os.PathLike[str],
    shape: tuple[int, int],
    config: Mapping[str, Any],
    kind: str,
    attributes: Mapping[str, str] | None = None,
) -> int:
    """Create the folder ``<path>.partial`` (or reopen it) and return how many samples it
    already holds.

    Left-over temporary files of an interrupted write are removed.

    Parameters
    ----------
    path : path-like
        The dataset's final HDF5 file; the work folder is ``<path>.partial``.
    shape : (int, int)
        ``(Lx, Ly)``, the lattice shape of every sample.
    config : mapping
        The generating configuration (JSON-serialisable), stored as sorted JSON; a reopened
        folder must hold the same.
    kind : str
        The dataset's kind, stored as the ``kind`` attribute (e.g. ``"quench"``).
    attributes : mapping of str to str, optional
        Extra text attributes of the finished file (e.g. the lattice geometry); None
        (default): none.

    Returns
    -------
    int
        The number of samples already in the folder (0 for a new one).

    Raises
    ------
    ValueError
        If an existing partial dataset was made with a different configuration (resuming it
        would mix two datasets).
    """
    folder = _folder(path)
    text = json.dumps(dict(config), sort_keys=True)
    if folder.folder.exists():
        meta = folder.meta(PART_FORMAT)
        if meta["config"] != text:
            raise ValueError(
                f"{folder.folder} was started with a different configuration; delete it to "
                "start over"
            )
        count = folder.count()
        folder.truncate(count)  # (only temporary files: chunks start below the count)
        return count
    folder.create({
        "format": PART_FORMAT, "config": text, "kind": kind, "code_version": fast.__version__,
        "shape": list(shape), "attributes": dict(attributes or {}),
    })  # fmt: skip
    return 0


_STATE = "state."


def _encode_state(state: Mapping[str, Any]) -> dict[str, NDArray[Any]]:
    """State values as arrays: ``state.array.<key>``, ``state.bytes.<key>`` (uint8),
    ``state.scalar.<key>`` (0-d)."""
    out: dict[str, NDArray[Any]] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            out[f"{_STATE}array.{key}"] = value
        elif isinstance(value, bytes):
            out[f"{_STATE}bytes.{key}"] = np.frombuffer(value, dtype=np.uint8)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{_STATE}scalar.{key}"] = np.asarray(value)
        else:
            raise TypeError(f"state {key!r}: cannot store a {type(value).__name__}")
    return out


def _decode_state(z: Mapping[str, NDArray[Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name in z:
        if not name.startswith(_STATE):
            continue
        kind, key = name[len(_STATE) :].split(".", 1)
        value = z[name]
        if kind == "bytes":
            state[key] = value.tobytes()
        else:
            state[key] = value if kind == "array" else value.item()
    return state


def append_chunk(
    path: str | os.PathLike[str],
    chunk: Mapping[str, NDArray[np.float64]],
    state: Mapping[str, Any] | None = None,
) -> int:
    """Add ``chunk`` (``Q``, ``F``, ``n`` of equal length) to the partial dataset.

    The chunk and ``state`` go into one new file, written to a temporary name and renamed:
    a kill at any moment leaves either the whole chunk with its state or nothing of it.

    Parameters
    ----------
    path : path-like
        The dataset's final HDF5 file; the chunk goes into ``<path>.partial``, which
        :func:`open_partial` made.
    chunk : mapping of str to (n_chunk, Lx, Ly) float64
        The fields ``Q``, ``F`` and ``n`` of ``n_chunk`` new samples.
    state : mapping, optional
        The resume point: arrays, bytes, integers and floats, read back by
        :func:`last_state`; None (default): no state.

    Returns
    -------
    int
        The new number of samples.

    Raises
    ------
    ValueError
        If a field's shape is not ``(n_chunk, Lx, Ly)`` with the folder's lattice shape.
    """
    folder = _folder(path)
    meta = folder.meta(PART_FORMAT)
    count = int(np.asarray(chunk["Q"]).shape[0])
    arrays: dict[str, NDArray[Any]] = {}
    for name in FIELDS:
        data = np.ascontiguousarray(chunk[name], dtype=np.float64)
        if data.shape != (count, *meta["shape"]):
            raise ValueError(
                f"chunk field {name} has shape {data.shape}, expected {(count, *meta['shape'])}"
            )
        arrays[name] = data
    arrays.update(_encode_state(state or {}))
    return folder.append(folder.count(), arrays)


def last_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``state`` stored with the last chunk of the partial dataset that has one.

    Parameters
    ----------
    path : path-like
        The dataset's final HDF5 file; the chunks are read from ``<path>.partial``.

    Returns
    -------
    dict or None
        The state as :func:`append_chunk` got it (arrays, bytes, integers, floats), or None
        if no chunk has one.
    """
    folder = _folder(path)
    for _, chunk in reversed(folder.chunks()):
        state = _decode_state(folder.read_chunk(chunk))
        if state:
            return state
    return None


def finalise(path: str | os.PathLike[str]) -> Path:
    """Join the chunks of ``<path>.partial`` into the HDF5 file ``path``, with the content
    hash, written under a temporary name and renamed; then remove the partial folder.

    Parameters
    ----------
    path : path-like
        The dataset's final HDF5 file.

    Returns
    -------
    Path
        The finished file.
    """
    folder = _folder(path)
    meta = folder.meta(PART_FORMAT)
    attributes = {"config": meta["config"], "kind": meta["kind"],
                  "code_version": meta["code_version"], **meta["attributes"]}  # fmt: skip
    return folder.join(FIELDS, attributes, dtype="f8", hash_attribute="content_hash")


def load_dataset(path: str | os.PathLike[str], verify: bool = True) -> Dataset:
    """Read a finished dataset.

    Parameters
    ----------
    path : path-like
        The finished HDF5 file.
    verify : bool
        Check the arrays against the stored content hash (default True).

    Returns
    -------
    Dataset
        The arrays (float64) and the file's attributes.

    Raises
    ------
    ValueError
        If the file does not exist (saying so when only a partial dataset does), cannot be
        read, or (with ``verify``) its content hash does not match.
    """
    p = Path(path)
    if not p.exists():
        hint = (
            " (a partial file exists: generation did not finish)"
            if partial_path(p).exists()
            else ""
        )
        raise ValueError(f"dataset {str(p)!r} does not exist{hint}")
    with reading(p, "dataset", "delete it to generate it again"), h5py.File(p, "r") as fh:
        arrays = {name: fh[name][...] for name in FIELDS}
        attributes = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in fh.attrs.items()}
    if verify and content_hash(arrays) != attributes.get("content_hash"):
        raise ValueError(f"dataset {str(p)!r} is corrupt: its content hash does not match")
    return Dataset(arrays["Q"], arrays["F"], arrays["n"], attributes)


@attrs.frozen(kw_only=True)
class DatasetSettings:
    """``[dataset]`` of a quench experiment: the exact training set (paper 003 App. B: 40x40,
    200 random configurations and 400 snapshots).

    Random configurations are the authors' hot start, ``Q ~ N(0, T_hot / kappa)``; the
    snapshots come from ``n_runs`` BAOAB runs at the bath temperature, recorded every
    ``snapshot_every`` steps after ``burn_in`` steps. With ``start = "hot"`` the runs start
    from such hot states (quench snapshots: domains and walls); with ``start = "cdw"`` from
    the checkerboard ground state, half of them sublattice-flipped, with momenta at the bath
    temperature (equilibrium snapshots at ``T``, paper 003 App. B's "equilibrium
    configurations at a low temperature"). ``chunk`` random configurations are labelled per
    chunk on disk.
    """

    size: int = attrs.field(default=40, validator=positive_int)
    n_random: int = attrs.field(default=200, validator=non_negative_int)
    n_runs: int = attrs.field(default=4, validator=non_negative_int)
    snapshots_per_run: int = attrs.field(default=100, validator=non_negative_int)
    burn_in: int = attrs.field(default=0, validator=non_negative_int)
    snapshot_every: int = attrs.field(default=50, validator=positive_int)
    chunk: int = attrs.field(default=8, validator=positive_int)
    start: str = "hot"

    def __attrs_post_init__(self) -> None:
        if self.start not in ("hot", "cdw"):
            raise ValueError(f"start must be 'hot' or 'cdw', got {self.start!r}")
        if self.n_random + self.n_runs * self.snapshots_per_run == 0:
            raise ValueError(
                "the dataset would be empty: n_random or n_runs x snapshots_per_run must be > 0"
            )


@attrs.frozen(kw_only=True)
class QuenchDatasetConfig:
    """Everything a quench-paper training set depends on, stored as JSON in the file.

    The physics (:class:`reference.sections.Physics`: the electrons at a fixed filling, with
    the chemical potential solved for in every configuration, or at a fixed ``mu``), the
    quench (:class:`reference.sections.Langevin`: time step, friction, hot-start
    temperature), the :class:`DatasetSettings` and the seed: the quench workflow's own
    sections, not copies of them.
    """

    physics: Physics = attrs.field(factory=Physics)
    langevin: Langevin = attrs.field(factory=Langevin)
    dataset: DatasetSettings = attrs.field(factory=DatasetSettings)
    seed: int = 0

    def model(self) -> HolsteinModel:
        """The Holstein model the labels come from.

        Returns
        -------
        HolsteinModel
            On the ``dataset.size`` x ``dataset.size`` lattice.
        """
        return self.physics.model(self.dataset.size)

    def integrator(self) -> dynamics.Integrator:
        """The exact-force BAOAB Langevin of the snapshot runs (whatever
        ``langevin.integrator`` says: it names the workflow's ML dynamics).

        Returns
        -------
        dynamics.Integrator
            :func:`fast.dynamics.langevin_baoab` with exact (ED) forces at the bath
            temperature.
        """
        p = self.physics
        return dynamics.langevin_baoab(
            ed.ExactForceField(self.model()),
            mass=p.mass,
            gamma=self.langevin.gamma(p),
            temperature=p.temperature,
            dt=self.langevin.dt(p),
        )

    @property
    def n_samples(self) -> int:
        """Random configurations plus quench snapshots."""
        d = self.dataset
        return d.n_random + d.n_runs * d.snapshots_per_run


def hot_start_spread(temperature: float, kappa: float, k: float) -> float:
    """Spread of the authors' hot start, ``sqrt(T0 / kappa)``; ``sqrt(T0 / k)`` if
    ``kappa <= 0`` (where the script's variance ``T0 / kappa`` has no meaning).

    Parameters
    ----------
    temperature : float
        The hot-start temperature ``T0`` (energy units, ``k_B = 1``).
    kappa : float
        The neighbour elastic coupling.
    k : float
        The on-site spring constant, used when ``kappa <= 0``.

    Returns
    -------
    float
        The standard deviation of each hot-start distortion ``Q_i``.
    """
    return math.sqrt(temperature / kappa) if kappa > 0 else math.sqrt(temperature / k)


def exact_labels(model: HolsteinModel, q: torch.Tensor) -> dict[str, NDArray[np.float64]]:
    """Exact labels of configurations ``q``: ``Q``, the total force ``F`` and the densities
    ``n`` (:func:`fast.ed.densities`, the Hellmann-Feynman force ``g (n_i - c)`` plus the
    elastic force), as NumPy arrays.

    Parameters
    ----------
    model : HolsteinModel
        The model the labels come from.
    q : (..., Lx, Ly) torch.Tensor
        The configurations, on the device where the diagonalisations run.

    Returns
    -------
    dict of str to (..., Lx, Ly) ndarray
        ``Q``, ``F`` and ``n``, in the dtype of ``q``.
    """
    n = ed.densities(q, model)
    p = model.params
    forces = p.g * (n - p.coupling.offset) + elastic_force(q, model)
    return {"Q": q.cpu().numpy(), "F": forces.cpu().numpy(), "n": n.cpu().numpy()}


def dynamics_checkpoint(state: dynamics.DynamicsState, step: int) -> dict[str, Any]:
    """The resume point of a labelling run after ``step`` steps, as :func:`append_chunk`
    stores it with a chunk: distortions, momenta, time, step and generator state.

    Parameters
    ----------
    state : dynamics.DynamicsState
        The runs' state after ``step`` steps.
    step : int
        Steps taken since the start of the runs.

    Returns
    -------
    dict
        ``quench_Q``, ``quench_P`` (arrays), ``quench_t`` (float), ``quench_step`` (int) and
        ``quench_rng`` (the generator state, bytes).
    """
    return {
        "quench_Q": state.Q.cpu().numpy(),
        "quench_P": state.P.cpu().numpy(),
        "quench_t": state.t,
        "quench_step": step,
        "quench_rng": state.rng.get_state().cpu().numpy().tobytes(),
    }


def resume_dynamics(
    path: Path, integrator: dynamics.Integrator, device: torch.device
) -> tuple[dynamics.DynamicsState, int] | None:
    """The state and step stored by :func:`dynamics_checkpoint` with the last chunk of the
    partial dataset ``path``, for ``integrator`` on ``device``; None if there is none.

    Parameters
    ----------
    path : Path
        The dataset's final HDF5 file; the state is read from ``<path>.partial``.
    integrator : dynamics.Integrator
        Builds the state (:meth:`init`) from the stored distortions, momenta and time.
    device : torch.device
        Where the state's tensors and generator go.

    Returns
    -------
    (dynamics.DynamicsState, int) or None
        The resumed state and its step, or None if no chunk stores a labelling run's state.
    """
    saved = last_state(path)
    if saved is None or "quench_Q" not in saved:
        return None
    q = torch.as_tensor(saved["quench_Q"], device=device)
    p = torch.as_tensor(saved["quench_P"], device=device)
    gen = torch.Generator(device=device)
    gen.set_state(torch.frombuffer(bytearray(saved["quench_rng"]), dtype=torch.uint8))
    return integrator.init(q, p, rng=gen, t0=float(saved["quench_t"])), int(saved["quench_step"])


def _quench_start(
    config: QuenchDatasetConfig, integ: dynamics.Integrator, device: torch.device
) -> tuple[dynamics.DynamicsState, int]:
    """The first state of the snapshot runs: hot (the quench) or the two CDW domains,
    alternating between runs, with momenta at the matching temperature."""
    model, p, d = config.model(), config.physics, config.dataset
    hot = config.langevin.initial_temperature
    rng = np.random.default_rng([config.seed, 2**32 - 1])  # the quench stream
    shape = (d.n_runs, *model.lattice.shape)
    if d.start == "hot":
        q0 = rng.normal(scale=hot_start_spread(hot, p.kappa, p.k), size=shape)
        p_temperature = hot
    else:
        cdw = reference_ed.ground_state(model).Q
        q0 = np.stack([cdw if r % 2 == 0 else np.roll(cdw, 1, axis=0)
                       for r in range(d.n_runs)])  # fmt: skip
        p_temperature = p.temperature
    p0 = rng.normal(scale=math.sqrt(p_temperature * p.mass), size=q0.shape)
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    q, mom = torch.as_tensor(q0, device=device), torch.as_tensor(p0, device=device)
    return integ.init(q, mom, rng=gen), 0


def generate_quench_dataset(
    config: QuenchDatasetConfig,
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_chunk: Callable[[int], Any] | None = None,
) -> Dataset:
    """Generate (or resume, or just load) the training set of ``config`` at ``path``.

    Parameters
    ----------
    config : QuenchDatasetConfig
        Physics, quench, dataset sizes and seed; stored as JSON in the file, and a finished
        file must have been made with the same.
    path : path-like
        The finished HDF5 file; work in progress lives in the folder ``<path>.partial``.
    device : str or torch.device
        Where the exact diagonalisations run.
    progress : bool
        Show a progress bar.
    on_chunk : callable, optional
        Called with the number of samples written after every chunk (tests use it to
        interrupt a run).

    Returns
    -------
    Dataset
        The finished dataset, its hash verified: ``n_random + n_runs * snapshots_per_run``
        configurations.
    """
    final = Path(path)
    if dataset_finished(final):
        data = load_dataset(final)
        if data.attributes.get("config") != json.dumps(attrs.asdict(config), sort_keys=True):
            raise ValueError(
                f"{str(final)!r} was generated with another configuration; use another path"
            )
        return data
    dev = torch.device(device)
    model = config.model()
    lattice = model.lattice
    done = open_partial(final, lattice.shape, attrs.asdict(config), "quench")
    total = config.n_samples
    bar = tqdm(total=total, initial=done, desc="exact labels", disable=not progress, unit="config")
    # random configurations: sample i is drawn from a generator seeded by (seed, i)
    d, p = config.dataset, config.physics
    std = hot_start_spread(config.langevin.initial_temperature, p.kappa, p.k)
    while done < d.n_random:
        count = min(d.chunk, d.n_random - done)
        q = np.stack(
            [
                np.random.default_rng([config.seed, i]).normal(scale=std, size=lattice.shape)
                for i in range(done, done + count)
            ]
        )
        done = append_chunk(final, exact_labels(model, torch.as_tensor(q, device=dev)))
        bar.update(count)
        if on_chunk is not None:
            on_chunk(done)
    if d.n_runs and d.snapshots_per_run:
        integ = config.integrator()
        resumed = resume_dynamics(final, integ, dev)
        state, step = _quench_start(config, integ, dev) if resumed is None else resumed
        while done < total:
            for _ in range(d.snapshot_every if step >= d.burn_in else d.burn_in):
                state = integ.step(state)
                step += 1
            done = append_chunk(
                final, exact_labels(model, state.Q), dynamics_checkpoint(state, step)
            )
            bar.update(d.n_runs)
            if on_chunk is not None:
                on_chunk(done)
    bar.close()
    return finish_dataset(final)


def finish_dataset(final: Path) -> Dataset:
    """Join the partial dataset into its final file (sealed with its hash) and load it.

    Parameters
    ----------
    final : Path
        The dataset's final HDF5 file; its chunks are in ``<final>.partial``.

    Returns
    -------
    Dataset
        The finished dataset, its hash verified.
    """
    finalise(final)
    return load_dataset(final)


def physics_of(dataset: Dataset) -> HolsteinParams:
    """The Holstein parameters a dataset was labelled with (its ``physics`` attribute, or the
    parameters in its ``config``).

    Parameters
    ----------
    dataset : Dataset
        A labelled dataset, as :func:`load_dataset` reads it.

    Returns
    -------
    HolsteinParams
        The parameters the labels were computed with.

    Raises
    ------
    ValueError
        If the dataset does not record its Holstein parameters.
    """
    try:
        config = json.loads(dataset.attributes.get("physics") or dataset.attributes["config"])
        if isinstance(config.get("physics"), dict):  # a quench dataset's nested settings
            config = config["physics"]
        names = [a.name for a in attrs.fields(HolsteinParams)]
        return HolsteinParams(**{name: config[name] for name in names})
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the dataset does not record its Holstein parameters ({exc})") from None


def electrons_of(dataset: Dataset) -> ElectronEnsemble | None:
    """The electrons a dataset was labelled with (temperature, and the chemical potential or
    the filling, from its ``config``), or None if it does not record them.

    Parameters
    ----------
    dataset : Dataset
        A labelled dataset, as :func:`load_dataset` reads it.

    Returns
    -------
    ElectronEnsemble or None
        At a fixed chemical potential if the config has ``mu``, else at its filling.
    """
    try:
        config = json.loads(dataset.attributes["config"])
        if isinstance(config.get("physics"), dict):  # a quench dataset's nested settings
            config = config["physics"]
        mu = config.get("mu")
        if mu is not None:
            return ElectronEnsemble(float(config["temperature"]), filling=None, mu=float(mu))
        return ElectronEnsemble(float(config["temperature"]), filling=float(config["filling"]))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        return None
