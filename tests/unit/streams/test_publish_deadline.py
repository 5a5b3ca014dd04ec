"""The publish deadline: what the API stamps and what the worker judges by."""

from streams import publish_deadline as pd


def test_the_deadline_leaves_a_margin_for_the_acknowledgement() -> None:
    assert pd.deadline_ms(100.0, 3.0) == 102_000  # a second of the 3 s wait
    assert pd.deadline_ms(100.0, 0.6) == 100_400  # a third of a short one


def test_a_record_appended_after_its_deadline_is_too_late() -> None:
    headers = [("other", b"x"), pd.header(5_000)]
    assert pd.publish_by(headers) == 5_000
    assert pd.too_late(5_000, 5_001, pd.LOG_APPEND_TIME)
    assert not pd.too_late(5_000, 5_000, pd.LOG_APPEND_TIME)


def test_without_a_deadline_or_the_brokers_time_nothing_is_too_late() -> None:
    assert pd.publish_by(None) is None
    assert pd.publish_by([("other", b"1")]) is None
    assert pd.publish_by([(pd.HEADER, b"soon")]) is None  # unreadable: as none
    assert not pd.too_late(None, 9_999, pd.LOG_APPEND_TIME)
    assert not pd.too_late(5_000, 9_999, 0)  # the producer's clock: cannot be told
    assert not pd.too_late(5_000, None, pd.LOG_APPEND_TIME)
