"""The model store every host reads: a version's bytes live in Postgres with its row, so
a worker with a model directory of its own serves a version another worker trained;
`models export` / `import` move a version between deployments, digest checked."""

from __future__ import annotations

import json
import subprocess
import uuid
import zipfile
from pathlib import Path

from infra import db
from tests.harness import STREAMREC, Pipeline, rating_messages


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMREC, *args], env=env, capture_output=True, text=True, timeout=180,
                          check=False)


def _rating(user: int, movie: int) -> tuple[bytes, bytes]:
    value = {"user_id": user, "movie_id": movie, "rating": 4.5, "rated_at": "2026-06-01T00:00:00Z",
             "event_id": str(uuid.uuid4())}
    return str(user).encode(), json.dumps(value).encode()


async def test_a_worker_with_its_own_model_directory_serves_a_version_it_did_not_train(
    pipeline: Pipeline, empty_database_url: str,
) -> None:
    trainer = pipeline.worker()
    await pipeline.publish(rating_messages(pipeline.data, 0, 3000))
    await pipeline.stored_and_trained(3000)
    version, digest = await pipeline.pool.fetchrow(
        "SELECT version_name, sha256 FROM model_versions WHERE is_active")
    stored = await pipeline.scalar(
        "SELECT sum(octet_length(data)) FROM model_artifacts WHERE version_name = $1", version)
    trainer_file = Path(pipeline.env["STREAMREC_MODEL_DIR"]) / "surprise" / f"model-{version}.npz"
    assert stored == trainer_file.stat().st_size, "Postgres holds the artifact byte for byte"
    trainer.stop()

    # Another host: its own home and model directory, nothing of the trainer's on disk.
    other_dir = pipeline.tmp / "other-host" / "models"
    other = pipeline.worker(STREAMREC_MODEL_DIR=str(other_dir),
                            STREAMREC_HOME=str(pipeline.tmp / "other-host" / "home"))
    operator = {**pipeline.env, "STREAMREC_MODEL_DIR": str(pipeline.tmp / "operator" / "models")}
    listed = {row["version"]: row for row in json.loads(_cli(operator, "models", "list", "--json").stdout)}
    assert listed[version]["artifact_ok"] is True and listed[version]["shared_bytes"] == stored
    assert listed[version]["engine"] == "local"

    # Re-activation (checked by the operator's CLI from Postgres's copy) fans out again:
    # the other worker's predictor writes every list of the version.
    since = await pipeline.pool.fetchval("SELECT now()")
    activated = _cli(operator, "models", "activate", version)
    assert activated.returncode == 0, activated.stdout + activated.stderr
    users = await pipeline.scalar("SELECT count(DISTINCT user_id) FROM ratings")
    await pipeline.wait_for("every list rewritten by the other worker", lambda: _at_least(
        pipeline, "SELECT count(*) FROM user_lists WHERE made_by = 'batch' AND model_version = $1 "
        "AND updated_at > $2", users, version, since), timeout_s=120)

    # Its speed layer re-ranks with the same version.
    user = int(await pipeline.pool.fetchval("SELECT min(user_id) FROM user_lists"))
    top = int(await pipeline.pool.fetchval("SELECT movie_ids[1] FROM user_lists WHERE user_id = $1", user))
    await pipeline.publish([_rating(user, top)])
    await pipeline.wait_for("the re-ranked list", lambda: _at_least(
        pipeline, "SELECT count(*) FROM user_lists WHERE user_id = $1 AND made_by = 'realtime' "
        "AND model_version = $2 AND NOT ($3 = ANY(movie_ids))", 1, user, version, top))
    assert (other_dir / "cache" / f"{digest}.npz").read_bytes() == trainer_file.read_bytes()
    assert "refused" not in other.output() and "Traceback" not in other.output()

    # Export, then import into another deployment's database.
    exported_file = pipeline.tmp / "version.zip"
    exported = _cli(operator, "models", "export", version, str(exported_file))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    db.migrate(empty_database_url)
    elsewhere = {**operator, "STREAMREC_DATABASE_URL": empty_database_url,
                 "STREAMREC_MODEL_DIR": str(pipeline.tmp / "elsewhere")}

    tampered = pipeline.tmp / "tampered.zip"
    with zipfile.ZipFile(exported_file) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            target.writestr(name, body[:-1] + bytes([body[-1] ^ 1]) if name.endswith(".npz") else body)
    garbage = pipeline.tmp / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    for bad, said in ((tampered, "sha256"), (garbage, "not a streamrec model export"),
                      (pipeline.tmp / "absent.zip", "no such file")):
        refused = _cli(elsewhere, "models", "import", str(bad))
        assert refused.returncode == 1 and said in refused.stderr, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
    imported = _cli(elsewhere, "models", "import", str(exported_file))
    assert imported.returncode == 0 and version in imported.stdout, imported.stdout + imported.stderr
    again = _cli(elsewhere, "models", "import", str(exported_file))
    assert again.returncode == 0 and "already here" in again.stdout
    there = {row["version"]: row for row in json.loads(_cli(elsewhere, "models", "list", "--json").stdout)}
    assert there[version]["sha256"] == digest and there[version]["is_active"] is False
    assert there[version]["artifact_ok"] is True and there[version]["shared_bytes"] == stored
    assert there[version]["rmse"] == listed[version]["rmse"]


async def _at_least(pipeline: Pipeline, query: str, expected: int, *args: object) -> bool:
    return await pipeline.scalar(query, *args) >= expected
