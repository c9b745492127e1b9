"""Datasets on disk: HDF5 with parameters, code version and a content hash; resumable writes.

A dataset is a set of configurations ``Q`` ``(n, Lx, Ly)`` with their exact forces
``F`` and densities ``n``, plus attributes (the generating configuration as JSON, the
code version, and a SHA-256 hash of the arrays).

Generation writes into the folder ``<path>.partial``: a ``meta.json`` and one ``.npz``
file per chunk of samples, holding the chunk and the generator's resume point together.
Every file there is written under a temporary name and renamed, so a kill at any moment
(even in the middle of a write) leaves whole chunks only, and the run resumes after the
last one. When all chunks are there, :func:`finalise` joins them into the HDF5 file
``<path>`` (again under a temporary name first), so a finished-looking file is always
whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
from numpy.typing import NDArray

import fast
from reference._runio import atomic_write
from reference.nn import ENNArchitecture, GNNArchitecture, MLPArchitecture, MPNNArchitecture

Architecture = MLPArchitecture | GNNArchitecture | MPNNArchitecture | ENNArchitecture

__all__ = [
    "Dataset",
    "append_chunk",
    "architecture_from_json",
    "architecture_to_json",
    "content_hash",
    "finalise",
    "last_state",
    "load_dataset",
    "open_partial",
    "partial_path",
    "write_npz",
]

FIELDS = ("Q", "F", "n")
PART_FORMAT = "holstein-mlff/partial-dataset/1"
_META = "meta.json"


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


def _chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.npz"


def _chunks(part: Path) -> list[Path]:
    """The chunk files of a partial dataset, in writing order."""
    return sorted(part.glob("chunk-*.npz"))


def _chunk_lengths(chunks: list[Path]) -> list[int]:
    """The number of samples in each chunk file."""
    lengths = []
    for chunk in chunks:
        with np.load(chunk, allow_pickle=False) as z:
            lengths.append(int(z["Q"].shape[0]))
    return lengths


def _read_meta(part: Path) -> dict[str, Any]:
    if not part.is_dir():
        raise ValueError(
            f"{part} is not a partial dataset of this version of the package; "
            "delete it to start over"
        )
    try:
        meta: dict[str, Any] = json.loads((part / _META).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{part} has no readable {_META} ({exc}); delete it to start over"
        ) from None
    if meta.get("format") != PART_FORMAT:
        raise ValueError(f"{part} is not a partial dataset of this package; delete it")
    return meta


def open_partial(
    path: str | os.PathLike[str],
    shape: tuple[int, int],
    config: Mapping[str, Any],
    kind: str,
    attributes: Mapping[str, str] | None = None,
) -> int:
    """Create the folder ``<path>.partial`` (or reopen it) and return how many samples it
    already holds.

    ``attributes`` are extra text attributes of the finished file (e.g. the lattice
    geometry). Left-over temporary files of an interrupted write are removed.

    Raises ``ValueError`` if an existing partial dataset was made with a different
    configuration (resuming it would mix two datasets).
    """
    part = partial_path(path)
    text = json.dumps(dict(config), sort_keys=True)
    if part.exists():
        meta = _read_meta(part)
        if meta["config"] != text:
            raise ValueError(
                f"{part} was started with a different configuration; delete it to start over"
            )
        for stray in part.glob("*.tmp"):
            stray.unlink()
        return sum(_chunk_lengths(_chunks(part)))
    part.mkdir(parents=True)
    meta = {
        "format": PART_FORMAT,
        "config": text,
        "kind": kind,
        "code_version": fast.__version__,
        "shape": list(shape),
        "attributes": dict(attributes or {}),
    }
    atomic_write(part / _META, lambda p: p.write_text(json.dumps(meta, sort_keys=True)))
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

    The chunk and ``state`` (the resume point: arrays, bytes, integers and floats, read back
    by :func:`last_state`) go into one new file, written to a temporary name and renamed:
    a kill at any moment leaves either the whole chunk with its state or nothing of it.
    Returns the new number of samples.
    """
    part = partial_path(path)
    meta = _read_meta(part)
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
    chunks = _chunks(part)
    write_npz(part / _chunk_name(len(chunks)), arrays)
    return count + sum(_chunk_lengths(chunks))


def write_npz(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Write ``arrays`` as an ``.npz`` file under a temporary name, synced to the disk, then
    rename it to ``path``: the file is whole or absent."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # (stubs: allow_pickle)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(path, write)


def last_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``state`` stored with the last chunk of the partial dataset that has one."""
    part = partial_path(path)
    for chunk in reversed(_chunks(part)):
        with np.load(chunk, allow_pickle=False) as z:
            state = _decode_state(z)
        if state:
            return state
    return None


def finalise(path: str | os.PathLike[str]) -> Path:
    """Join the chunks of ``<path>.partial`` into the HDF5 file ``path``, with the content
    hash, written under a temporary name and renamed; then remove the partial folder."""
    part = partial_path(path)
    meta = _read_meta(part)
    chunks = _chunks(part)
    lengths = _chunk_lengths(chunks)
    shape = (sum(lengths), *meta["shape"])
    final = Path(path)

    def write(tmp: Path) -> None:
        digest = hashlib.sha256()
        with h5py.File(tmp, "w") as fh:
            fh.attrs["config"] = meta["config"]
            fh.attrs["kind"] = meta["kind"]
            fh.attrs["code_version"] = meta["code_version"]
            for key, value in meta["attributes"].items():
                fh.attrs[key] = value
            for name in sorted(FIELDS):  # the order of content_hash
                ds = fh.create_dataset(name, shape=shape, dtype="f8", chunks=(1, *shape[1:]))
                digest.update(name.encode())
                digest.update(str(shape).encode())
                digest.update(str(np.dtype("f8")).encode())
                start = 0
                for chunk, length in zip(chunks, lengths, strict=True):
                    with np.load(chunk, allow_pickle=False) as z:
                        data = z[name]
                    ds[start : start + length] = data
                    digest.update(data.tobytes())
                    start += length
            fh.attrs["content_hash"] = digest.hexdigest()

    atomic_write(final, write)
    shutil.rmtree(part)
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
