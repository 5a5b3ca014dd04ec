"""`streamrec topics list | describe | tail | lag` against the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from streams.topic_inspect import UnknownGroup, UnknownTopic
from tests.integration.cli.conftest import STREAMREC, Cli, free_port


def _rating(user: int, movie: int, n: int = 0) -> tuple[bytes, bytes]:
    value = {"user_id": user, "movie_id": movie, "rating": 4.0, "n": n}
    return str(user).encode(), json.dumps(value).encode()


def test_list_and_describe_show_offsets_per_partition(cli: Cli) -> None:
    cli.produce("ratings", [_rating(1, 1, i) for i in range(3)], partition=0)
    cli.produce("ratings", [_rating(2, 2, i) for i in range(5)], partition=2)

    listed = {topic["name"]: topic for topic in cli.json("topics", "list")}
    assert set(listed) == {cli.topic(n) for n in ("ratings", "hidden-items", "impressions", "ratings-dlq",
                                                  "retrain-requests", "model-events", "prediction-jobs")}
    assert listed[cli.topic("ratings")] == {"name": cli.topic("ratings"), "partitions": 4, "replication": 1,
                                            "end_offsets": 8, "messages": 8}
    human = cli.run("topics", "list").stdout
    assert cli.topic("ratings") in human and cli.topic("prediction-jobs") in human
    assert cli.topic("ratings") in {t["name"] for t in cli.json("topics", "list", "--all")}

    for name in ("ratings", cli.topic("ratings")):  # the short or the full name
        described = cli.json("topics", "describe", name)
        offsets = {p["partition"]: (p["earliest"], p["latest"]) for p in described["partition_offsets"]}
        assert offsets == {0: (0, 3), 1: (0, 0), 2: (0, 5), 3: (0, 0)}
        assert all(p["leader"] >= 0 for p in described["partition_offsets"])
    human = cli.run("topics", "describe", "ratings").stdout
    assert "4 partition(s)" in human and "8 message(s)" in human


def test_tail_prints_the_last_messages_decoded(cli: Cli) -> None:
    base = int(time.time() * 1000)
    cli.produce("ratings", [_rating(7, 10 + i, i) for i in range(5)] + [(b"\xff\x00", b"\x80\x81binary\x00")],
                partition=1, timestamps=[base + i for i in range(6)])

    out = cli.run("topics", "tail", "ratings", "-n", "3").stdout
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    assert '"movie_id": 13' in lines[0] and '"movie_id": 14' in lines[1]
    assert "not UTF-8" in lines[2] and "80 81" in lines[2]  # binary shown as hex, safely
    assert '"movie_id": 12' not in out

    records = [json.loads(line) for line in cli.run("topics", "tail", "ratings", "--from-beginning",
                                                     "--json").stdout.splitlines()]
    assert [r["offset"] for r in records] == list(range(6))
    assert records[0]["value"]["movie_id"] == 10 and "value_preview" in records[5]


def test_tail_follow_prints_new_messages_until_interrupted(cli: Cli) -> None:
    with subprocess.Popen([STREAMREC, "topics", "tail", "ratings", "-n", "0", "--follow"],
                          env={**os.environ, **cli.env}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None and proc.stdout is not None
            assert "following" in proc.stderr.readline()  # the consumer is at the end now
            cli.produce("ratings", [_rating(3, 33)])
            assert '"movie_id": 33' in proc.stdout.readline()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_lag_counts_what_a_group_has_not_consumed(cli: Cli) -> None:
    group = f"{cli.settings.app_id}-reader"
    cli.produce("ratings", [_rating(1, 1)], partition=0)
    cli.consume_all("ratings", group=group)  # the group exists, caught up, and has no member
    assert cli.json("topics", "lag", "--group", group)["total_lag"] == 0

    cli.produce("ratings", [_rating(1, 2), _rating(1, 3)], partition=0)
    cli.produce("ratings", [_rating(2, 2)] * 3, partition=3)
    lag = cli.json("topics", "lag", "--group", group)
    assert lag["total_lag"] == 5 and lag["members"] == 0
    rows = {(p["topic"], p["partition"]): p for p in lag["partitions"]}
    assert rows[(cli.topic("ratings"), 0)] == {"topic": cli.topic("ratings"), "partition": 0,
                                               "end_offset": 3, "committed": 1, "lag": 2}
    assert rows[(cli.topic("ratings"), 3)]["lag"] == 3
    assert rows[(cli.topic("ratings"), 3)]["committed"] == 0
    human = cli.run("topics", "lag", "--group", group).stdout
    assert "total lag 5" in human

    cli.consume_all("ratings", group=group)
    assert cli.json("topics", "lag", "--group", group)["total_lag"] == 0


def test_unknown_topic_or_group_lists_what_exists(cli: Cli) -> None:
    result = cli.run("topics", "describe", "no-such-topic", ok=False)
    assert result.exit_code == 1 and isinstance(result.exception, UnknownTopic)
    assert "ratings-dlq" in (result.exception.hint or "")

    result = cli.run("topics", "lag", ok=False)  # no worker ever ran with this app id
    assert result.exit_code == 1 and isinstance(result.exception, UnknownGroup)

    shown = cli.subprocess("topics", "tail", "no-such-topic")
    assert shown.returncode == 1 and "no topic 'no-such-topic'" in shown.stderr
    assert "retrain-requests" in shown.stderr and "Traceback" not in shown.stderr


def test_unreachable_broker_is_one_line_with_the_address_and_a_hint(cli: Cli) -> None:
    address = f"127.0.0.1:{free_port()}"
    shown = cli.subprocess("topics", "list", STREAMREC_KAFKA_BOOTSTRAP=address)
    assert shown.returncode == 1
    assert f"cannot reach Kafka at {address}" in shown.stderr and "streamrec stack up" in shown.stderr
    assert "Traceback" not in shown.stderr and len(shown.stderr.strip().splitlines()) <= 3
