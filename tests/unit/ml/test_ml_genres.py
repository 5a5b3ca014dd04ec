"""Genre lists as MovieLens and TMDB files write them."""

from __future__ import annotations

from ml.genres import from_flags, parse_list, read_genre_file, to_list


def test_lists_flags_and_json() -> None:
    assert parse_list("Animation|Children's|Comedy") == ("Animation", "Children's", "Comedy")
    assert parse_list("(no genres listed)") == () and parse_list("") == ()
    assert parse_list(" Drama | Drama|") == ("Drama",)  # blanks and repeats dropped
    assert parse_list('[{"id": 28, "name": "Action"}, {"id": 18, "name": "Drama"}]') == ("Action", "Drama")
    assert parse_list("[not json") == ("[not json",)
    assert from_flags(["1", "0", "1"]) == ("Adventure",)  # the first flag, unknown, is no genre
    assert read_genre_file("unknown|0\nB|2\nA|1\n\n") == ("unknown", "A", "B")
    assert to_list(()) == "(no genres listed)" and to_list(("A", "B")) == "A|B"
