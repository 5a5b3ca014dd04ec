"""The model store: versioned, checksummed SVD artifacts on disk.

Layout under ``root`` (as in the seed, ``<store>/surprise/...``)::

    surprise/model-<version>.npz    one version's arrays (no pickle): the SVD's factors and
                                    raw ids, the ranking model (``rank__*``), and both
                                    held-out fits the next gate re-scores (``eval_svd__*``,
                                    ``eval_rank__*``); one sha256 covers them all
    surprise/model-<version>.json   metadata: version, metrics, params, sha256 of the files
    surprise/model-<version>.pkl    Surprise's own SVD, only when asked for
    surprise/latest                 the version name of the latest model
    cache/<sha256>.npz              artifacts this host read from the shared store
                                    (Postgres: ``infra.shared_models``), by digest

Version names are ``YYYYMMDDTHHMMSS.ffffffZ-<6 hex>`` (UTC time of saving plus a
random suffix): they sort by time, are unique, and are safe in file names and URL
paths.  A version exists once its ``.json`` exists; that file is written last.

Every file is written to a temporary file in the same directory, fsynced and
renamed, so a crash leaves either the old file or the new one.  Loading reads the
bytes once, checks their sha256 against the expected digest (the ``model_versions``
row's, else the metadata's), and only then parses them: a missing, truncated or
altered file raises :class:`ModelIntegrityError` and nothing is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import secrets
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from surprise import SVD

from ml.errors import InvalidModelVersion, ModelIntegrityError
from ml.ranking import RankingModel
from ml.scoring import SVDFactors
from ml.train import EvalModels, TrainResult

VERSION_PATTERN = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")
LATEST = "latest"
FORMAT = "streamrec-svd-npz/1"
log = logging.getLogger(__name__)


def new_version(now: datetime | None = None) -> str:
    """A fresh version name for a model saved at ``now`` (default: the current time)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def check_version(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise InvalidModelVersion(
            f"{version!r} is not a model version name",
            hint="use a name from `streamrec models list` (like 20261123T101500.123456Z-3fa9c1)",
        )
    return version


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredModel:
    """Where a saved version lives, and the digests to record in ``model_versions``."""

    version: str
    path: Path  # the .npz serving artifact
    sha256: str
    metadata_path: Path
    pickle_path: Path | None
    pickle_sha256: str | None
    created_at: datetime


class ModelStore:
    """Model artifacts under ``root/surprise``, keeping the newest ``keep`` versions."""

    def __init__(self, root: Path, keep: int = 5) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.root = root
        self.keep = keep
        self.dir = root / "surprise"

    # --- paths -------------------------------------------------------------------------

    def npz_path(self, version: str) -> Path:
        return self.dir / f"model-{check_version(version)}.npz"

    def metadata_path(self, version: str) -> Path:
        return self.dir / f"model-{check_version(version)}.json"

    def pickle_path(self, version: str) -> Path:
        return self.dir / f"model-{check_version(version)}.pkl"

    # --- writing -----------------------------------------------------------------------

    def save(
        self,
        result: TrainResult,
        *,
        include_pickle: bool = False,
        point_latest: bool = True,
        protect: Iterable[str] = (),
        now: datetime | None = None,
    ) -> StoredModel:
        """Write a new version (and point ``latest`` at it unless told not to), then
        prune to ``keep`` versions, sparing ``latest`` and ``protect`` (e.g. the active
        version)."""
        if include_pickle and result.algo_pickle is None:
            raise ValueError("include_pickle=True needs train_model(..., include_pickle=True)")
        created_at = (now or datetime.now(UTC)).astimezone(UTC)
        version = new_version(created_at)
        self.dir.mkdir(parents=True, exist_ok=True)

        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **bundle_arrays(result))
        npz = buffer.getvalue()
        npz_sha = sha256_hex(npz)
        _atomic_write(self.npz_path(version), npz)
        pickle_sha = None
        if include_pickle and result.algo_pickle is not None:
            pickle_sha = sha256_hex(result.algo_pickle)
            _atomic_write(self.pickle_path(version), result.algo_pickle)

        metadata: dict[str, Any] = {
            "version": version,
            "format": FORMAT,
            "created_at": created_at.isoformat(),
            **result.metadata(),
            "sha256": npz_sha,
            "npz": {"file": self.npz_path(version).name, "sha256": npz_sha, "bytes": len(npz)},
            "pickle": None
            if pickle_sha is None
            else {
                "file": self.pickle_path(version).name,
                "sha256": pickle_sha,
                "bytes": len(result.algo_pickle or b""),
            },
        }
        body = json.dumps(metadata, indent=2, sort_keys=True).encode() + b"\n"
        _atomic_write(self.metadata_path(version), body)  # last: the version now exists
        if point_latest:
            try:
                self.set_latest(version)
            except OSError as err:  # e.g. `latest` replaced by a directory
                # The database's active version is the truth; the pointer is a courtesy.
                log.warning("could not point %s at %s: %s", self.dir / LATEST, version, err)
        self.prune(protect=[version, *protect])
        return StoredModel(
            version=version,
            path=self.npz_path(version),
            sha256=npz_sha,
            metadata_path=self.metadata_path(version),
            pickle_path=self.pickle_path(version) if pickle_sha else None,
            pickle_sha256=pickle_sha,
            created_at=created_at,
        )

    def set_latest(self, version: str) -> None:
        """Point ``latest`` at an existing version (atomically)."""
        if not self.metadata_path(version).is_file():
            raise ModelIntegrityError(
                f"version {version} is not in the store", path=self.metadata_path(version)
            )
        _atomic_write(self.dir / LATEST, f"{version}\n".encode())

    def prune(self, protect: Iterable[str] = ()) -> list[str]:
        """Delete all but the newest ``keep`` versions, never ``latest`` nor ``protect``;
        also leftovers of interrupted saves older than the newest version.  Returns the
        deleted versions."""
        versions = self.versions()
        spared = set(versions[-self.keep :]) | set(protect)
        latest = self.latest()
        if latest is not None:
            spared.add(latest)
        removed = [v for v in versions if v not in spared]
        for version in removed:
            # Metadata first: a half-deleted version is no longer listed.
            for path in (
                self.metadata_path(version), self.npz_path(version), self.pickle_path(version)
            ):
                path.unlink(missing_ok=True)
        if versions:
            complete = set(versions)
            for path in self.dir.glob("model-*.*"):
                version = path.name.removeprefix("model-").rsplit(".", 1)[0]
                if (
                    VERSION_PATTERN.fullmatch(version)
                    and version not in complete
                    and version < versions[-1]
                    and version not in spared
                ):
                    path.unlink(missing_ok=True)
        if removed:
            _fsync_dir(self.dir)
        return removed

    # --- reading -----------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Complete versions in the store, oldest first."""
        if not self.dir.is_dir():
            return []
        names = (p.name.removeprefix("model-").removesuffix(".json") for p in self.dir.glob(
            "model-*.json"
        ))
        return sorted(n for n in names if VERSION_PATTERN.fullmatch(n))

    def latest(self) -> str | None:
        """The version ``latest`` points at, or None when there is no readable pointer
        (none yet, or one that is unreadable or names no version: the database's active
        version is the truth, so a bad pointer is logged, never fatal)."""
        path = self.dir / LATEST
        try:
            return check_version(path.read_text().strip())
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, InvalidModelVersion) as err:
            log.warning("ignoring the unreadable pointer %s: %s", path, err)
            return None

    def metadata(self, version: str) -> dict[str, Any]:
        path = self.metadata_path(version)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError as err:
            raise ModelIntegrityError("metadata file is missing", path=path) from err
        except OSError as err:
            raise ModelIntegrityError(f"metadata file cannot be read ({err.strerror})", path=path) from err
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelIntegrityError(f"metadata is not valid JSON ({err})", path=path) from err
        if not isinstance(data, dict) or data.get("version") != version:
            raise ModelIntegrityError("metadata does not describe this version", path=path)
        return data

    def load(self, version: str, expected_sha256: str | None = None) -> SVDFactors:
        """The serving SVD factors of ``version`` (see :meth:`load_bundle`)."""
        return self.load_bundle(version, expected_sha256).svd

    def load_bundle(self, version: str, expected_sha256: str | None = None) -> ModelBundle:
        """Every model of ``version``, after checking the ``.npz`` digest.

        ``expected_sha256`` should come from the ``model_versions`` row; without it the
        digest in the version's metadata is used (catches corruption, not tampering
        with both files).
        """
        return parse_bundle(self.read_verified(version, expected_sha256), self.npz_path(version))

    def read_verified(self, version: str, expected_sha256: str | None = None) -> bytes:
        """The ``.npz`` bytes of ``version`` once their sha256 matched (the metadata's
        digest when ``expected_sha256`` is None)."""
        expected = expected_sha256 or str(self.metadata(version)["sha256"])
        return _verified_bytes(self.npz_path(version), expected)

    # --- the cache of artifacts read from elsewhere (the shared store) -----------------

    def cache_path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"{sha256!r} is not a sha256 digest")
        return self.root / "cache" / f"{sha256}.npz"

    def cached(self, sha256: str) -> bytes | None:
        """The cached artifact of digest ``sha256``, or None when there is none that
        matches it (a damaged one is removed)."""
        path = self.cache_path(sha256)
        try:
            return _verified_bytes(path, sha256)
        except ModelIntegrityError as err:
            if path.exists():
                log.warning("dropping a damaged cached model: %s", err.message)
                path.unlink(missing_ok=True)
            return None

    def cache(self, sha256: str, data: bytes) -> None:
        """Keep verified artifact bytes under their digest; the ``keep`` newest stay."""
        path = self.cache_path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)
        cached = sorted(path.parent.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in cached[self.keep:]:
            old.unlink(missing_ok=True)

    def check(self, version: str, expected_sha256: str) -> str | None:
        """None when ``version``'s artifact is present and matches ``expected_sha256``,
        else what is wrong with it (for ``models list``)."""
        try:
            _verified_bytes(self.npz_path(version), expected_sha256)
        except (ModelIntegrityError, InvalidModelVersion) as err:
            return err.message.removeprefix(f"{self.npz_path(version)}: ")
        return None

    def load_surprise(self, version: str, expected_sha256: str | None = None) -> SVD:
        """Surprise's own SVD of ``version`` (saved with ``include_pickle=True``),
        unpickled only after its digest matched."""
        path = self.pickle_path(version)
        if expected_sha256 is None:
            entry = self.metadata(version).get("pickle")
            if not isinstance(entry, dict):
                raise ModelIntegrityError(
                    "this version was saved without a Surprise pickle", path=path
                )
            expected_sha256 = str(entry["sha256"])
        algo = pickle.loads(_verified_bytes(path, expected_sha256))
        if not isinstance(algo, SVD):
            raise ModelIntegrityError("file does not hold a Surprise SVD", path=path)
        return algo


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """What one version holds: the serving SVD (predicted ratings), the serving ranking
    model (the list's order; None in versions saved before there was one) and the
    held-out fits of both (None likewise)."""

    svd: SVDFactors
    ranking: RankingModel | None
    held_out: EvalModels | None


_RANK, _EVAL_SVD, _EVAL_RANK = "rank__", "eval_svd__", "eval_rank__"


def _prefixed(prefix: str, arrays: dict[str, Any]) -> dict[str, Any]:
    return {prefix + name: value for name, value in arrays.items()}


def _unprefixed(prefix: str, arrays: dict[str, Any]) -> dict[str, Any] | None:
    found = {name.removeprefix(prefix): value for name, value in arrays.items() if name.startswith(prefix)}
    return found or None


def bundle_arrays(result: TrainResult) -> dict[str, Any]:
    """A trained version as the named arrays of its ``.npz``."""
    arrays: dict[str, Any] = dict(result.factors.arrays())
    if result.ranking is not None:
        arrays |= _prefixed(_RANK, result.ranking.arrays())
    if result.held_out is not None:
        models = result.held_out.models
        arrays |= _prefixed(_EVAL_SVD, models.svd.arrays())
        if models.ranking is not None:
            arrays |= _prefixed(_EVAL_RANK, models.ranking.arrays())
    return arrays


def bundle_from_arrays(arrays: dict[str, Any]) -> ModelBundle:
    """Inverse of :func:`bundle_arrays`; ``KeyError``/``ValueError`` on a bad layout."""
    prefixes = (_RANK, _EVAL_SVD, _EVAL_RANK)
    svd = SVDFactors.from_arrays({k: v for k, v in arrays.items() if not k.startswith(prefixes)})
    rank, eval_svd, eval_rank = (_unprefixed(prefix, arrays) for prefix in prefixes)
    held_out = None if eval_svd is None else EvalModels(
        SVDFactors.from_arrays(eval_svd), RankingModel.from_arrays(eval_rank) if eval_rank else None)
    return ModelBundle(svd, RankingModel.from_arrays(rank) if rank else None, held_out)


def parse_bundle(data: bytes, path: Path) -> ModelBundle:
    """The models held by verified ``.npz`` bytes (``path`` names them in errors)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return bundle_from_arrays({name: npz[name] for name in npz.files})
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as err:
        raise ModelIntegrityError(f"not a valid model file ({err})", path=path) from err


def _verified_bytes(path: Path, expected_sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ModelIntegrityError("model file is missing", path=path) from err
    except OSError as err:  # a directory in its place, no permission, an I/O error
        raise ModelIntegrityError(f"model file cannot be read ({err.strerror})", path=path) from err
    actual = sha256_hex(data)
    if actual != expected_sha256.lower():
        raise ModelIntegrityError(
            f"sha256 mismatch: expected {expected_sha256}, file has {actual} "
            f"({len(data)} bytes; truncated or altered)",
            path=path,
        )
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable (POSIX); directories cannot be opened on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
