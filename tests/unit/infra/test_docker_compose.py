"""docker-compose.yml cannot run here (no Docker engine); it is checked as a file."""

from pathlib import Path

import yaml

from infra.settings import Settings

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


def _compose() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_health_checks() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "worker", "api"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in ("kafka", "postgres", "api"):
        assert "test" in services[name]["healthcheck"], name
    assert services["worker"]["command"] == ["streamrec", "worker"]
    assert services["api"]["command"][:2] == ["streamrec", "api"]


def test_every_streamrec_variable_is_a_real_setting() -> None:
    fields = {f"STREAMREC_{name.upper()}" for name in Settings.model_fields}
    used: set[str] = set()
    for service in _compose()["services"].values():
        used |= {key for key in service.get("environment", {}) if key.startswith("STREAMREC_")}
    assert used, "the app services are configured through STREAMREC_* variables"
    assert used <= fields, f"not settings: {sorted(used - fields)}"


def test_app_services_reach_kafka_and_postgres_by_service_name() -> None:
    env = _compose()["services"]["worker"]["environment"]
    assert env["STREAMREC_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
    settings = Settings(database_url=env["STREAMREC_DATABASE_URL"])
    assert settings.database.host == "postgres"
