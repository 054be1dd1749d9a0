from core.durations import format_duration, format_eta


def test_durations_read_as_people_say_them():
    assert format_duration(12.4) == "12 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"


def test_an_unknown_duration_shows_the_placeholder():
    assert format_duration(None) == ""
    assert format_duration(None, unknown="?") == "?"
    assert format_duration(-1, unknown="?") == "?"


def test_an_eta_says_what_it_is_or_nothing():
    assert format_eta(185) == "ETA 3 min 05 s"
    assert format_eta(None) == ""
