"""The model store: checksummed artifacts, refusal of bad files, latest, pruning."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ml.errors import InvalidModelVersion, ModelIntegrityError
from ml.model_store import VERSION_PATTERN, ModelStore, new_version
from ml.scoring import score_pairs
from ml.train import TrainResult

T0 = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def _save_n(store: ModelStore, trained: TrainResult, n: int) -> list[str]:
    return [store.save(trained, now=T0 + timedelta(minutes=i)).version for i in range(n)]


def test_save_then_load_gives_the_same_factors(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path, keep=3)
    saved = store.save(trained)
    assert saved.path == tmp_path / "surprise" / f"model-{saved.version}.npz"
    assert saved.sha256 == hashlib.sha256(saved.path.read_bytes()).hexdigest()
    loaded = store.load(saved.version, saved.sha256)
    for name, value in trained.factors.arrays().items():
        assert np.array_equal(loaded.arrays()[name], value), name
    meta = json.loads(saved.metadata_path.read_text())
    assert meta["version"] == saved.version
    assert meta["sha256"] == saved.sha256
    assert meta["rmse"] == trained.rmse and meta["mae"] == trained.mae
    assert meta["n_ratings"] == trained.n_ratings
    assert meta["params"] == trained.params.as_dict()
    assert meta["pickle"] is None and saved.pickle_path is None
    assert datetime.fromisoformat(meta["created_at"]) == saved.created_at


def test_version_names_sort_by_time_and_are_path_safe() -> None:
    a, b = new_version(T0), new_version(T0 + timedelta(microseconds=1))
    assert a < b
    assert VERSION_PATTERN.fullmatch(a)
    assert set(a) <= set("0123456789TZ.-abcdef")
    assert new_version(T0) != new_version(T0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_altered_or_truncated_npz_is_refused_and_named(
    tmp_path: Path, trained: TrainResult, damage: str
) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained)
    data = bytearray(saved.path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data += b"\0"
    saved.path.write_bytes(bytes(data))
    for expected in (saved.sha256, None):  # the caller's digest, then the metadata's
        with pytest.raises(ModelIntegrityError) as err:
            store.load(saved.version, expected)
        assert str(saved.path) in str(err.value)
        assert "sha256 mismatch" in str(err.value)
        assert err.value.hint and "previous model" in err.value.hint


def test_missing_npz_is_refused_and_named(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained)
    saved.path.unlink()
    with pytest.raises(ModelIntegrityError, match="missing") as err:
        store.load(saved.version, saved.sha256)
    assert err.value.path == saved.path


def test_a_digest_other_than_the_recorded_one_is_refused(
    tmp_path: Path, trained: TrainResult
) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained)
    with pytest.raises(ModelIntegrityError, match="sha256 mismatch"):
        store.load(saved.version, "0" * 64)


def test_a_consistent_but_non_model_file_is_refused(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained)
    saved.path.write_bytes(b"not a zip file")
    digest = hashlib.sha256(b"not a zip file").hexdigest()
    with pytest.raises(ModelIntegrityError, match="not a valid model file"):
        store.load(saved.version, digest)


def test_surprise_pickle_is_verified_before_unpickling(
    tmp_path: Path, trained: TrainResult
) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained, include_pickle=True)
    assert saved.pickle_path is not None and saved.pickle_sha256 is not None
    algo = store.load_surprise(saved.version, saved.pickle_sha256)
    user, movie = int(trained.factors.user_ids[0]), int(trained.factors.movie_ids[0])
    assert algo.predict(user, movie).est == pytest.approx(
        score_pairs(trained.factors, [user], [movie])[0], abs=1e-9
    )
    data = bytearray(saved.pickle_path.read_bytes())
    data[-5] ^= 0xFF
    saved.pickle_path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256 mismatch") as err:
        store.load_surprise(saved.version)
    assert str(saved.pickle_path) in str(err.value)


def test_pickle_is_only_written_when_asked(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path)
    saved = store.save(trained)
    assert not store.pickle_path(saved.version).exists()
    with pytest.raises(ModelIntegrityError, match="without a Surprise pickle"):
        store.load_surprise(saved.version)


def test_latest_pointer_is_replaced_atomically(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path)
    first = store.save(trained, now=T0).version
    pointer = tmp_path / "surprise" / "latest"
    with pointer.open() as old:  # a reader that opened the pointer before the switch
        second = store.save(trained, now=T0 + timedelta(minutes=1)).version
        # Rename, not rewrite in place: the old file is intact for that reader.
        assert old.read().strip() == first
    assert pointer.read_text().strip() == second == store.latest()
    leftovers = [p.name for p in pointer.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_save_can_leave_latest_alone(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path)
    first = store.save(trained, now=T0).version
    store.save(trained, now=T0 + timedelta(minutes=1), point_latest=False)
    assert store.latest() == first


def test_pruning_keeps_the_newest_n(tmp_path: Path, trained: TrainResult) -> None:
    store = ModelStore(tmp_path, keep=3)
    versions = _save_n(store, trained, 5)
    assert store.versions() == versions[-3:]
    files = sorted(p.name for p in (tmp_path / "surprise").iterdir())
    assert files == sorted(
        [f"model-{v}.{ext}" for v in versions[-3:] for ext in ("npz", "json")] + ["latest"]
    )


def test_pruning_spares_latest_and_protected_versions(
    tmp_path: Path, trained: TrainResult
) -> None:
    store = ModelStore(tmp_path, keep=2)
    active = store.save(trained, now=T0).version
    pinned = store.save(trained, now=T0 + timedelta(minutes=1), point_latest=False).version
    later = [
        store.save(
            trained, now=T0 + timedelta(minutes=2 + i), point_latest=False, protect=[pinned]
        ).version
        for i in range(3)
    ]
    assert store.latest() == active
    assert store.versions() == [active, pinned, *later[-2:]]
    removed = store.prune()  # pinned no longer protected
    assert removed == [pinned]
    assert store.versions() == [active, *later[-2:]]
    store.load(active)  # still loadable


def test_leftovers_of_an_interrupted_save_are_pruned(
    tmp_path: Path, trained: TrainResult
) -> None:
    store = ModelStore(tmp_path, keep=5)
    orphan = new_version(T0 - timedelta(days=1))
    (tmp_path / "surprise").mkdir(parents=True)
    orphan_npz = tmp_path / "surprise" / f"model-{orphan}.npz"
    orphan_npz.write_bytes(b"partial")  # npz written, metadata never was
    store.save(trained, now=T0)
    assert not orphan_npz.exists()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "latest", "2026", ""])
def test_bad_version_names_are_refused(tmp_path: Path, bad: str) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(InvalidModelVersion):
        store.load(bad)


def test_unknown_version_is_refused_and_named(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    version = new_version(T0)
    with pytest.raises(ModelIntegrityError) as err:
        store.load(version)
    assert version in str(err.value)
    assert store.versions() == [] and store.latest() is None


def test_the_cache_keeps_verified_bytes_by_digest_and_drops_damaged_ones(
    tmp_path: Path, trained: TrainResult
) -> None:
    source = ModelStore(tmp_path / "trainer")
    saved = source.save(trained)
    data = source.read_verified(saved.version, saved.sha256)
    cache = ModelStore(tmp_path / "other", keep=2)
    assert cache.cached(saved.sha256) is None
    cache.cache(saved.sha256, data)
    assert cache.cached(saved.sha256) == data
    path = cache.cache_path(saved.sha256)
    path.write_bytes(data[:-10])  # damaged on disk: not served, and removed
    assert cache.cached(saved.sha256) is None and not path.exists()
    for filler in ("a", "b", "c"):  # the newest `keep` stay
        digest = hashlib.sha256(filler.encode()).hexdigest()
        cache.cache(digest, filler.encode())
    assert len(list(path.parent.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="not a sha256"):
        cache.cache_path("../escape")
