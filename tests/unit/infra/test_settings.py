from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import TUNED_FILE, DatabaseAddress, Settings, load_settings


def test_defaults_describe_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMREC_KAFKA_BOOTSTRAP", "STREAMREC_DATABASE_URL", "STREAMREC_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.kafka_host_port == ("127.0.0.1", 9092)
    assert settings.database.port == 5433
    assert settings.topic("ratings") == "streamrec.ratings"
    assert settings.retrain_every_n_ratings == 100
    assert settings.retrain_cron == "0 2 * * *"
    assert settings.admin_token is None


def test_environment_overrides_every_kind_of_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_KAFKA_BOOTSTRAP", "broker-a:29092,broker-b:29092")
    monkeypatch.setenv("STREAMREC_DATABASE_URL", "postgresql://u:secret@db:6543/recs")
    monkeypatch.setenv("STREAMREC_RATINGS_PARTITIONS", "3")
    monkeypatch.setenv("STREAMREC_MODEL_DIR", "/srv/models")
    monkeypatch.setenv("STREAMREC_ADMIN_TOKEN", "tok")
    monkeypatch.setenv("STREAMREC_TOPIC_PREFIX", "prod-")
    settings = Settings()
    assert settings.kafka_host_port == ("broker-a", 29092)
    assert settings.ratings_partitions == 3
    assert settings.model_dir == Path("/srv/models")
    assert settings.admin_token == "tok"
    assert settings.topic("ratings-dlq") == "prod-ratings-dlq"
    address = settings.database
    assert (address.host, address.port, address.user, address.password, address.name) == (
        "db", 6543, "u", "secret", "recs"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMREC_RATINGS_PARTITIONS", "0"),
        ("STREAMREC_API_PORT", "70000"),
        ("STREAMREC_TOPIC_PREFIX", "bad prefix/"),
        ("STREAMREC_TEST_SIZE", "1.5"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_database_address_builds_sibling_urls() -> None:
    address = DatabaseAddress.parse("postgresql://streamrec:pw@127.0.0.1:5433/streamrec")
    assert address.with_name("other") == "postgresql://streamrec:pw@127.0.0.1:5433/other"
    with pytest.raises(ValueError, match="postgresql://"):
        DatabaseAddress.parse("mysql://x@y/z")


def test_a_copy_with_another_database_url_reports_that_database() -> None:
    settings = Settings(database_url="postgresql://a:b@127.0.0.1:5433/first")
    assert settings.database.name == "first"
    copy = settings.model_copy(update={"database_url": "postgresql://a:b@127.0.0.1:5433/second"})
    assert copy.database.name == "second"


def test_tuned_parameters_are_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_HOME", str(tmp_path))
    monkeypatch.delenv("STREAMREC_SVD_LR", raising=False)
    assert load_settings().svd_lr == Settings().svd_lr
    (tmp_path / TUNED_FILE).write_text("STREAMREC_SVD_LR=0.02\nSTREAMREC_SVD_REG=0.1\n")
    assert load_settings().svd_lr == 0.02 and load_settings().svd_reg == 0.1
    monkeypatch.setenv("STREAMREC_SVD_LR", "0.03")
    assert load_settings().svd_lr == 0.03 and load_settings().svd_reg == 0.1
