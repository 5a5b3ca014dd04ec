"""Model export files: a round trip keeps the bytes; anything else is refused, named."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra import model_files
from infra.model_files import ModelFileError
from infra.repositories.models import ModelVersion
from ml.model_store import ModelStore
from ml.synthetic import generate
from ml.train import SVDParams, TrainResult, train_model


@pytest.fixture(scope="module")
def trained() -> TrainResult:
    return train_model(generate(100, 60, 3000, seed=1).ratings, SVDParams(n_factors=5, n_epochs=5))


def _exported(tmp_path: Path, trained: TrainResult) -> tuple[Path, ModelVersion, bytes]:
    store = ModelStore(tmp_path / "models")
    saved = store.save(trained)
    data = store.read_verified(saved.version, saved.sha256)
    version = ModelVersion(
        version_name=saved.version, rmse=trained.rmse, mae=trained.mae, n_ratings=trained.n_ratings,
        params=trained.metadata(), sha256=saved.sha256, path=str(saved.path),
        created_at=datetime.now(UTC), ratings_through=None, is_active=True, activated_at=None,
        decision="activated", exported_at=None, ndcg_at_10=0.2, precision_at_10=0.1,
        baseline_ndcg_at_10=0.1)
    path = tmp_path / "version.zip"
    model_files.write(path, version, data)
    return path, version, data


def test_an_export_reads_back_as_the_same_version_and_bytes(tmp_path: Path, trained: TrainResult) -> None:
    path, version, data = _exported(tmp_path, trained)
    loaded = model_files.read(path)
    assert (loaded.version, loaded.sha256, loaded.data) == (version.version_name, version.sha256, data)
    assert loaded.record["rmse"] == version.rmse and loaded.record["ndcg_at_10"] == 0.2


def _rewritten(path: Path, change: dict[str, bytes | None]) -> Path:
    out = path.with_name("changed.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            body = change.get(name, source.read(name))
            if body is not None:
                target.writestr(name, body)
    return out


@pytest.mark.parametrize("fault, said", [
    ("altered", "sha256"), ("truncated", "sha256"), ("no artifact", "not a streamrec model export"),
    ("bad json", "not valid JSON"), ("bad version", "not a model version name"),
    ("no figures", "lacks the version's figures"), ("other format", "not a streamrec-model-export/1"),
    ("not a model", "not a valid model file"),
])
def test_a_bad_export_is_refused_with_the_reason(
    tmp_path: Path, trained: TrainResult, fault: str, said: str
) -> None:
    path, _, data = _exported(tmp_path, trained)
    with zipfile.ZipFile(path) as archive:
        record = json.loads(archive.read(model_files.METADATA))

    def meta(**changes: object) -> bytes:
        return json.dumps({**record, **changes}).encode()

    junk = b"PK not really"
    changes: dict[str, dict[str, bytes | None]] = {
        "altered": {model_files.ARTIFACT: data[:-1] + bytes([data[-1] ^ 1])},
        "truncated": {model_files.ARTIFACT: data[: len(data) // 2]},
        "no artifact": {model_files.ARTIFACT: None},
        "bad json": {model_files.METADATA: b"{not json"},
        "bad version": {model_files.METADATA: meta(version="../../etc/passwd")},
        "no figures": {model_files.METADATA: meta(rmse="low")},
        "other format": {model_files.METADATA: meta(format="something/2")},
        "not a model": {model_files.ARTIFACT: junk,
                        model_files.METADATA: meta(sha256=hashlib.sha256(junk).hexdigest())},
    }
    with pytest.raises(ModelFileError, match=said) as err:
        model_files.read(_rewritten(path, changes[fault]))
    assert err.value.hint


@pytest.mark.parametrize("make", ["missing", "directory", "garbage", "empty"])
def test_a_file_that_is_no_export_is_refused(tmp_path: Path, make: str) -> None:
    path = tmp_path / "file.zip"
    if make == "directory":
        path.mkdir()
    elif make == "garbage":
        path.write_bytes(b"\x00\xff" * 100)
    elif make == "empty":
        path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        model_files.read(path)
