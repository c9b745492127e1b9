"""Work in progress that survives a kill: a folder of whole files, joined into HDF5 at the end.

Datasets (:mod:`fast.ml.datasets`) and trajectories (:mod:`fast.runs.trajectories`) are
written the same way. While the work runs, the finished file ``<path>`` does not exist; the
folder ``<path>.partial`` holds

* ``meta.json``: what is being written (a format tag and the writer's description);
* ``chunk-<first>.npz``: records ``first, first + 1, ...``, one file per chunk, named by the
  index of its first record, so a chunk's name never depends on how many files a directory
  listing happened to show;
* anything else the writer keeps there (a trajectory's ``state.pt``).

Every file is written under a temporary name, synced and renamed (:func:`write_npz`), so a
kill at any moment leaves whole files only. When the work is done, :meth:`ChunkFolder.join`
copies the chunks into ``<path>`` (again under a temporary name first) and removes the folder,
so a finished-looking file is always whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from fast.ml.provenance import provenance_json
from reference.runio import atomic_write, reading

__all__ = ["ChunkFolder", "content_hash", "partial_path", "write_npz"]

META = "meta.json"


def content_hash(arrays: Mapping[str, NDArray[Any]]) -> str:
    """SHA-256 over the named arrays (names, shapes, dtypes and bytes, in name order).

    Parameters
    ----------
    arrays : mapping of str to ndarray
        The arrays, of any shape and dtype.

    Returns
    -------
    str
        Hexadecimal digest (64 characters).
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.shape).encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The folder that holds the work in progress on the file ``path``.

    Parameters
    ----------
    path : path-like
        The finished file.

    Returns
    -------
    Path
        ``<path>.partial``.
    """
    p = Path(path)
    return p.with_name(p.name + ".partial")


def write_npz(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Write ``arrays`` as an ``.npz`` file under a temporary name, synced to the disk, then
    rename it to ``path``: the file is whole or absent.

    Parameters
    ----------
    path : Path
        The file to write (replaced if it exists).
    arrays : mapping of str to ndarray
        The arrays, stored under their names (no object arrays: they are read back without
        pickle).
    """

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # (stubs: allow_pickle)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(path, write)


class ChunkFolder:
    """The folder ``<path>.partial`` of a file ``path`` in progress.

    Parameters
    ----------
    path : path-like
        The finished file.
    kind : str
        What is written (``"dataset"``, ``"trajectory"``): named in error messages.
    count_field : str
        The array of every chunk whose first axis counts its records.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str, count_field: str) -> None:
        self.final = Path(path)
        self.folder = partial_path(path)
        self.kind = kind
        self.count_field = count_field

    def finished(self) -> bool:
        """Whether the finished file exists. A work folder left beside it (a kill between
        the final rename and the folder's removal) is garbage, and is removed.

        Returns
        -------
        bool
            True if ``path`` exists.
        """
        if not self.final.exists():
            return False
        if self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)
        return True

    # ------------------------------------------------------------------ the description

    def create(self, meta: Mapping[str, Any]) -> None:
        """Start a new folder with its description.

        Parameters
        ----------
        meta : mapping
            The description, JSON values, written to ``meta.json``; its ``format`` names the
            writer's format and version.
        """
        # made complete under another name and renamed: a kill never leaves a folder
        # without its description
        staging = self.folder.with_name(f"{self.folder.name}.new-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        text = json.dumps(dict(meta), sort_keys=True)
        atomic_write(staging / META, lambda p: p.write_text(text))
        os.replace(staging, self.folder)

    def meta(self, format: str) -> dict[str, Any]:
        """The description of an existing folder, which must be of ``format``.

        Parameters
        ----------
        format : str
            The format tag the writer expects (e.g. ``"holstein-mlff/partial-dataset/2"``).

        Returns
        -------
        dict
            The contents of ``meta.json``.

        Raises
        ------
        ValueError
            Naming the folder and what to do, if it is no such folder (an older version's
            work, a file, a folder without a readable description).
        """
        if not self.folder.is_dir():
            raise ValueError(
                f"{str(self.folder)!r} is not a {self.kind} in progress of this version of the "
                "package; delete it to start over"
            )
        try:
            meta: dict[str, Any] = json.loads((self.folder / META).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{str(self.folder)!r} has no readable {META} ({exc}); delete it to start over"
            ) from None
        if meta.get("format") != format:
            raise ValueError(
                f"{str(self.folder)!r} is not a {self.kind} in progress of this version of the "
                "package; delete it to start over"
            )
        return meta

    # ------------------------------------------------------------------ chunks

    def chunks(self) -> list[tuple[int, Path]]:
        """The chunk files with the index of their first record, in order.

        Returns
        -------
        list of (int, Path)
            ``(first, path)`` per chunk file, sorted by ``first``.
        """
        return sorted((int(p.stem.split("-")[1]), p) for p in self.folder.glob("chunk-*.npz"))

    def lengths(self) -> list[int]:
        """The number of records in each chunk file, in order.

        Returns
        -------
        list of int
            The length of the count field's first axis, per chunk in :meth:`chunks` order.
        """
        lengths = []
        for _, path in self.chunks():
            with _reading_chunk(path, self.kind), np.load(path, allow_pickle=False) as z:
                lengths.append(int(z[self.count_field].shape[0]))
        return lengths

    def count(self) -> int:
        """The number of records on disk.

        Returns
        -------
        int
            The sum of :meth:`lengths`.
        """
        return sum(self.lengths())

    def append(self, first: int, arrays: Mapping[str, NDArray[Any]]) -> int:
        """Write the records ``first, first + 1, ...`` as one chunk; return the new count.

        Parameters
        ----------
        first : int
            The index of the chunk's first record. It must be the number of records on disk
            (:meth:`count` or the writer's own record of it), so a chunk is never written
            twice under two names.
        arrays : mapping of str to ndarray
            The chunk's arrays; the count field's first axis is the number of records, and
            other arrays (a resume point) may have any shape.

        Returns
        -------
        int
            ``first`` plus the number of records written.
        """
        length = int(np.asarray(arrays[self.count_field]).shape[0])
        write_npz(self.folder / f"chunk-{first:09d}.npz", arrays)
        return first + length

    def truncate(self, count: int) -> None:
        """Remove the chunks that start at record ``count`` or later, and any temporary file
        an interrupted write left behind.

        Parameters
        ----------
        count : int
            The number of records to keep (chunks starting below it stay whole).
        """
        for first, path in self.chunks():
            if first >= count:
                path.unlink()
        for stray in self.folder.glob("*.tmp"):
            stray.unlink()

    def read_chunk(self, path: Path) -> dict[str, NDArray[Any]]:
        """Every array of one chunk file.

        Parameters
        ----------
        path : Path
            A chunk file of this folder (from :meth:`chunks`).

        Returns
        -------
        dict of str to ndarray
            The arrays under their stored names.
        """
        with _reading_chunk(path, self.kind), np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}

    # ------------------------------------------------------------------ the finished file

    def join(
        self,
        fields: Sequence[str],
        attributes: Mapping[str, Any],
        *,
        dtype: str | None = None,
        hash_attribute: str | None = None,
    ) -> Path:
        """Copy ``fields`` of every chunk into the HDF5 file (written under a temporary name
        and renamed), with the file attributes ``attributes``; then remove the folder.

        Arrays of two or more axes are stored in HDF5 chunks of one record.

        Parameters
        ----------
        fields : sequence of str
            The arrays to copy, each concatenated over the chunks along its first axis.
        attributes : mapping
            HDF5 file attributes (besides ``provenance``, which they may replace).
        dtype : str, optional
            Forces the stored type (e.g. ``"f8"``); None (default): the chunks'.
        hash_attribute : str, optional
            If given, the SHA-256 over the fields in name order (names, shapes, dtypes and
            bytes: :func:`content_hash`) is stored under this attribute; None (default): no
            hash.

        Returns
        -------
        Path
            The finished file.
        """
        files = [path for _, path in self.chunks()]
        lengths = self.lengths()
        total = sum(lengths)

        def write(tmp: Path) -> None:
            digest = hashlib.sha256()
            with h5py.File(tmp, "w") as fh:
                fh.attrs["provenance"] = provenance_json()  # the attributes may replace it
                for key, value in attributes.items():
                    fh.attrs[key] = value
                for name in sorted(fields) if hash_attribute else fields:
                    out: Any = None
                    start = 0
                    for path, length in zip(files, lengths, strict=True):
                        with _reading_chunk(path, self.kind), np.load(path) as z:
                            data = z[name] if dtype is None else z[name].astype(dtype)
                        if out is None:  # the first file sets shape and dtype
                            shape = (total, *data.shape[1:])
                            chunks = None if data.ndim < 2 else (1, *data.shape[1:])
                            out = fh.create_dataset(name, shape, data.dtype, chunks=chunks)
                            digest.update(name.encode())
                            digest.update(str(shape).encode())
                            digest.update(str(data.dtype).encode())
                        out[start : start + length] = data
                        digest.update(np.ascontiguousarray(data).tobytes())
                        start += length
                if hash_attribute:
                    fh.attrs[hash_attribute] = digest.hexdigest()

        atomic_write(self.final, write)
        shutil.rmtree(self.folder)
        return self.final


def _reading_chunk(path: Path, kind: str) -> Any:
    return reading(path, f"chunk of a {kind} in progress",
                   "delete the folder it is in to redo that work")  # fmt: skip
