"""Datasets on disk: HDF5 with parameters, code version and a content hash; resumable writes.

A dataset is a set of configurations ``Q`` ``(n, Lx, Ly)`` with their exact forces
``F`` and densities ``n``, plus attributes (the generating configuration as JSON, the
code version, and a SHA-256 hash of the arrays). Generation appends chunks to
``<path>.partial`` and flushes after each, so a killed run resumes where it stopped;
the file is renamed to ``<path>`` only when complete, so a finished-looking file is
always whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
from numpy.typing import NDArray

import fast
from reference.nn import ENNArchitecture, GNNArchitecture, MLPArchitecture, MPNNArchitecture

Architecture = MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture

__all__ = [
    "Dataset",
    "append_chunk",
    "architecture_from_json",
    "architecture_to_json",
    "content_hash",
    "finalise",
    "load_dataset",
    "open_partial",
    "partial_path",
]

FIELDS = ("Q", "F", "n")


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


def content_hash(arrays: Mapping[str, NDArray[Any]]) -> str:
    """SHA-256 over the named arrays (names, shapes, dtypes and bytes, in name order)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.shape).encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The file a dataset is written to before it is complete."""
    p = Path(path)
    return p.with_name(p.name + ".partial")


def open_partial(
    path: str | os.PathLike[str],
    shape: tuple[int, int],
    config: Mapping[str, Any],
    kind: str,
    attributes: Mapping[str, str] | None = None,
) -> int:
    """Create ``<path>.partial`` (or reopen it) and return how many samples it already holds.

    ``attributes`` are extra text attributes of the file (e.g. the lattice geometry).

    Raises ``ValueError`` if an existing partial file was made with a different configuration
    (resuming it would mix two datasets).
    """
    part = partial_path(path)
    text = json.dumps(dict(config), sort_keys=True)
    if part.exists():
        with h5py.File(part, "r") as fh:
            if fh.attrs.get("config") != text:
                raise ValueError(
                    f"{part} was started with a different configuration; delete it to start over"
                )
            return int(fh["Q"].shape[0])
    part.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(part, "w") as fh:
        fh.attrs["config"] = text
        fh.attrs["kind"] = kind
        fh.attrs["code_version"] = fast.__version__
        for key, value in (attributes or {}).items():
            fh.attrs[key] = value
        for name in FIELDS:
            fh.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype="f8", chunks=(1, *shape)
            )
    return 0


def append_chunk(
    path: str | os.PathLike[str],
    chunk: Mapping[str, NDArray[np.float64]],
    state: Mapping[str, Any] | None = None,
) -> int:
    """Append ``chunk`` (``Q``, ``F``, ``n`` of equal length) to the partial file.

    ``state`` (arrays become datasets, scalars and bytes attributes) is written in the
    same file session, so the resume point always matches the samples on disk.
    Returns the new number of samples.
    """
    part = partial_path(path)
    with h5py.File(part, "a") as fh:
        for key, value in (state or {}).items():
            if isinstance(value, np.ndarray):
                if key in fh:
                    del fh[key]
                fh[key] = value
            else:
                fh.attrs[key] = np.void(value) if isinstance(value, bytes) else value
        size = int(fh["Q"].shape[0])
        count = int(np.asarray(chunk["Q"]).shape[0])
        for name in FIELDS:
            data = np.asarray(chunk[name], dtype=np.float64)
            if data.shape[0] != count:
                raise ValueError(f"chunk field {name} has {data.shape[0]} samples, Q has {count}")
            fh[name].resize(size + count, axis=0)
            fh[name][size:] = data
        fh.flush()
    return size + count


def finalise(path: str | os.PathLike[str]) -> Path:
    """Write the content hash into the partial file and rename it to ``path``."""
    part = partial_path(path)
    with h5py.File(part, "a") as fh:
        fh.attrs["content_hash"] = content_hash({name: fh[name][...] for name in FIELDS})
    final = Path(path)
    os.replace(part, final)
    return final


def load_dataset(path: str | os.PathLike[str], verify: bool = True) -> Dataset:
    """Read a finished dataset; with ``verify`` check its content hash."""
    p = Path(path)
    if not p.exists():
        hint = (
            " (a partial file exists: generation did not finish)"
            if partial_path(p).exists()
            else ""
        )
        raise ValueError(f"dataset {str(p)!r} does not exist{hint}")
    with h5py.File(p, "r") as fh:
        arrays = {name: fh[name][...] for name in FIELDS}
        attributes = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in fh.attrs.items()}
    if verify and content_hash(arrays) != attributes.get("content_hash"):
        raise ValueError(f"dataset {str(p)!r} is corrupt: its content hash does not match")
    return Dataset(arrays["Q"], arrays["F"], arrays["n"], attributes)


_ARCHITECTURES: dict[str, type[Architecture]] = {
    cls.__name__: cls
    for cls in (MLPArchitecture, GNNArchitecture, MPNNArchitecture, ENNArchitecture)
}


def architecture_to_json(architecture: Architecture) -> str:
    """A network architecture as JSON text (its class name under ``"type"``)."""
    return json.dumps({"type": type(architecture).__name__, **attrs.asdict(architecture)})


def architecture_from_json(text: str) -> Architecture:
    """Rebuild an architecture written by :func:`architecture_to_json`.

    Raises ``ValueError`` on text that does not describe one.
    """
    try:
        data = json.loads(text)
        cls = _ARCHITECTURES[data.pop("type")]
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a network architecture: {text[:80]!r} ({exc})") from None
