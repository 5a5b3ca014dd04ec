"""The local Spark cluster's checks that need no cluster: what is missing is named."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.settings import Settings
from infra.stack import control, spark


def test_the_launcher_is_the_installed_pysparks() -> None:
    launcher = spark.spark_class()
    assert launcher.name == "spark-class" and launcher.is_file()


def test_without_pyspark_starting_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    with pytest.raises(ConfigError) as caught:
        spark.start(Settings(home=tmp_path))
    assert "pyspark" in caught.value.message and caught.value.hint is not None
    assert ".[spark]" in caught.value.hint


def test_without_java_starting_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError) as caught:
        spark.start(Settings(home=tmp_path))
    assert "Java" in caught.value.message and "openjdk" in (caught.value.hint or "")


def test_a_cluster_never_started_is_off_and_stopping_it_does_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, spark_master_ui_port=1)  # nothing answers there
    assert not spark.is_ready(settings)
    assert spark.running(settings) is None
    assert spark.stop(settings) == "not running"
    assert settings.spark_cluster_url == f"spark://127.0.0.1:{settings.spark_master_port}"
    assert control.StackStatus("k", "d", "up", "up", None, None, "h").healthy
    assert not control.StackStatus("k", "d", "up", "up", None, None, "h", spark="down").healthy
