"""A model version as one file, to move it between deployments.

``streamrec models export VERSION FILE`` writes a zip (stored, not compressed: the
arrays are floats) of two members: ``streamrec-model.json`` (the version's recorded
row: name, figures, parameters, sha256) and ``model.npz`` (its artifact, byte for byte).
``import`` refuses a file whose artifact does not match the sha256 it carries, or
whose artifact does not hold a model.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.repositories.models import ModelVersion
from ml.errors import InvalidModelVersion, ModelIntegrityError
from ml.model_store import check_version, parse_bundle, sha256_hex
from schemas.errors import StreamrecError

FORMAT = "streamrec-model-export/1"
METADATA, ARTIFACT = "streamrec-model.json", "model.npz"


class ModelFileError(StreamrecError):
    """A model export file that cannot be imported (the message says why)."""


@dataclass(frozen=True)
class ModelFile:
    """What an export file holds, verified: the recorded row and the artifact's bytes."""

    version: str
    sha256: str
    record: dict[str, Any]  # ``ModelVersion.as_json()`` of the exporting deployment
    data: bytes


def write(path: Path, version: ModelVersion, data: bytes) -> int:
    """Write ``version`` with its verified ``data`` to ``path`` (atomically); returns bytes."""
    record = {"format": FORMAT, **version.as_json()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, json.dumps(record, indent=2, sort_keys=True) + "\n")
            archive.writestr(ARTIFACT, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def read(path: Path) -> ModelFile:
    """The version in an export file; :class:`ModelFileError` for anything else."""
    hint = "export the version again with `streamrec models export VERSION FILE`"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {METADATA, ARTIFACT} <= names:
                raise ModelFileError(f"{path}: not a streamrec model export (it holds "
                                     f"{', '.join(sorted(names)[:5]) or 'nothing'})", hint=hint)
            record = json.loads(archive.read(METADATA))
            data = archive.read(ARTIFACT)
    except FileNotFoundError as err:
        raise ModelFileError(f"{path}: no such file", hint="check the path") from err
    except IsADirectoryError as err:
        raise ModelFileError(f"{path}: is a directory", hint="give the export file's path") from err
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise ModelFileError(f"{path}: not a streamrec model export ({err})", hint=hint) from err
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: its {METADATA} is not valid JSON ({err})", hint=hint) from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a {FORMAT} file", hint=hint)
    try:
        version = check_version(str(record.get("version")))
    except InvalidModelVersion as err:
        raise ModelFileError(f"{path}: {err.message}", hint=hint) from err
    expected = str(record.get("sha256", "")).lower()
    actual = sha256_hex(data)
    if actual != expected:
        raise ModelFileError(
            f"{path}: the artifact's sha256 is {actual}, the file says {expected or 'nothing'} "
            "(altered or truncated): not imported", hint=hint)
    try:
        parse_bundle(data, path)
    except ModelIntegrityError as err:
        raise ModelFileError(f"{err.message}: not imported", hint=hint) from err
    _check_figures(path, record, hint)
    return ModelFile(version=version, sha256=actual, record=record, data=data)


def _check_figures(path: Path, record: dict[str, Any], hint: str) -> None:
    """The fields a ``model_versions`` row needs, of the right types."""
    numbers = ("rmse", "mae")
    ok = (all(isinstance(record.get(name), (int, float)) and record[name] >= 0 for name in numbers)
          and isinstance(record.get("n_ratings"), int) and record["n_ratings"] >= 0
          and isinstance(record.get("params", {}), dict)
          and all(record.get(name) is None or isinstance(record[name], (int, float))
                  for name in ("ndcg_at_10", "precision_at_10", "baseline_ndcg_at_10")))
    if not ok:
        raise ModelFileError(f"{path}: its {METADATA} lacks the version's figures "
                             "(rmse, mae, n_ratings, params)", hint=hint)
