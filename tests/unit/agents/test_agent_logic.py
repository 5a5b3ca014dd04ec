"""Pure parts of the agents and the dead-letter policy."""

import asyncio
import base64
from datetime import UTC, datetime

from agents.deps import INGEST_BEHIND_HOLD_S, DirtyUsers
from agents.fanout import split_jobs
from ml.gate import SplitScores, Tolerances, decide
from schemas.events import DeadLetter
from schemas.ratings import Invalid, Origin, Reason
from streams.deadletter import RawMessage, dead_letter, original_bytes


def _scores(rmse: float, ndcg: float) -> SplitScores:
    return SplitScores(rmse=rmse, mae=rmse, ndcg=ndcg, precision=0.0, recall=0.0, coverage=0.0)


POPULAR = _scores(float("nan"), 0.1)


def test_first_model_activates_when_its_list_beats_popularity() -> None:
    assert decide(_scores(1.2, 0.2), None, POPULAR).activate
    assert not decide(_scores(0.8, 0.05), None, POPULAR).activate


def test_activation_is_gated_by_the_active_models_rmse_and_tolerance() -> None:
    tolerance = Tolerances(rmse=0.01)
    assert decide(_scores(0.90, 0.2), _scores(0.92, 0.2), POPULAR, tolerance).activate
    assert decide(_scores(0.925, 0.2), _scores(0.92, 0.2), POPULAR, tolerance).activate
    worse = decide(_scores(0.94, 0.2), _scores(0.92, 0.2), POPULAR, tolerance)
    assert not worse.activate
    assert worse.text.startswith("not activated") and "0.9400" in worse.text


def test_jobs_cover_every_user_once_in_batches() -> None:
    users = list(range(1, 1002))
    jobs = split_jobs("v1", users, 250)
    assert [len(job.user_ids) for job in jobs] == [250, 250, 250, 250, 1]
    assert [u for job in jobs for u in job.user_ids] == users
    assert {job.model_version for job in jobs} == {"v1"}
    assert len({job.job_id for job in jobs}) == len(jobs)


def test_dead_letter_keeps_the_original_bytes_and_where_they_came_from() -> None:
    message = RawMessage(key=b"\x00k", value=b"\xffnot json",
                         origin=Origin("streamrec.ratings", 5, 99, 1_700_000_000_000))
    letter = dead_letter(message, Invalid(Reason.INVALID_JSON, "not JSON"))
    decoded = DeadLetter.loads(letter.dumps())
    assert (decoded.reason, decoded.source_topic, decoded.source_partition, decoded.source_offset) == (
        "invalid_json", "streamrec.ratings", 5, 99)
    assert original_bytes(decoded) == (b"\x00k", b"\xffnot json")
    assert decoded.value_b64 == base64.b64encode(b"\xffnot json").decode()
    assert decoded.failed_at <= datetime.now(UTC)


def test_a_message_without_key_is_dead_lettered_without_one() -> None:
    message = RawMessage(key=None, value=b"{}", origin=Origin("t", 0, 0, None))
    assert original_bytes(dead_letter(message, Invalid(Reason.MISSING_FIELD, "x"))) == (None, b"{}")


async def test_marked_users_are_taken_once_in_rounds() -> None:
    dirty = DirtyUsers()
    dirty.mark([5, 3, 5, 9])
    dirty.mark([3, 1])  # a user marked twice is re-ranked once
    assert await dirty.take(3) == [5, 3, 9]  # first marked, first taken
    assert await dirty.take(3) == [1]
    waiting = asyncio.ensure_future(dirty.take(10))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "take waits for a marked user"
    dirty.mark([7])
    assert await asyncio.wait_for(waiting, 1.0) == [7]
    assert len(dirty) == 0


async def test_under_a_steady_load_no_marked_user_waits_behind_later_ones() -> None:
    # More users marked each round than a round takes: the highest ids must not starve.
    dirty = DirtyUsers()
    dirty.mark([1000])
    taken: list[int] = []
    for round_ in range(5):
        dirty.mark(range(round_ * 10, round_ * 10 + 10))  # ten new low ids per round
        taken += await dirty.take(4)
    assert taken[0] == 1000


async def test_a_prediction_job_waits_for_one_round_of_the_waiting_users() -> None:
    dirty = DirtyUsers()
    assert await dirty.serving_first(1.0) < 0.05, "nothing waiting: no wait"
    dirty.mark([4, 5])
    job = asyncio.ensure_future(dirty.serving_first(5.0))
    await asyncio.sleep(0.05)
    assert not job.done(), "users wait for the speed layer: the job waits"
    await dirty.take(10)
    dirty.mark([6])  # marked after the job began waiting
    dirty.round_scored()
    assert await asyncio.wait_for(job, 1.0) < 1.0  # one round was enough, though 6 waits


async def test_a_prediction_job_waits_while_ingest_is_behind_but_not_forever() -> None:
    dirty = DirtyUsers()
    dirty.ingest_behind = True
    job = asyncio.ensure_future(dirty.serving_first(5.0))
    await asyncio.sleep(0.05)
    assert not job.done()
    dirty.ingest_behind = False
    assert await asyncio.wait_for(job, 1.0) < 1.0
    dirty.ingest_behind = True
    assert 0.1 <= await dirty.serving_first(0.1) < 0.5, "bounded by its deadline"


async def test_ingest_behind_lapses_when_no_batch_follows_a_full_one() -> None:
    # A backlog whose last batch happened to be full must not hold prediction jobs back.
    dirty = DirtyUsers()
    dirty.ingest_behind = True
    assert dirty.ingest_behind
    waited = await dirty.serving_first(5.0)
    assert not dirty.ingest_behind
    assert INGEST_BEHIND_HOLD_S - 0.05 <= waited < INGEST_BEHIND_HOLD_S + 0.5
