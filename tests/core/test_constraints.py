"""mcdropout.core.constraints: what each configuration type allows, and the one ``must be <allowed>`` report of any
failure (the wording config.py turns into ``section.key must be ..., got ...``)."""

import pytest
from pydantic import TypeAdapter, ValidationError

from mcdropout.core import constraints as C


def check(kind, value):
    return TypeAdapter(kind).validate_python(value)


def refusal(kind, value) -> str:
    """The first error's message; every refusal is of the project's own error type ``config``."""
    with pytest.raises(ValidationError) as info:
        check(kind, value)
    first = info.value.errors()[0]
    assert first["type"] == "config"
    return first["msg"]


def test_bad_is_the_config_error_with_the_allowed_wording():
    err = C.bad("a number > 0")
    assert err.type == "config" and err.message() == "must be a number > 0"
    assert err.context == {"allowed": "a number > 0"}


@pytest.mark.parametrize(("kind", "ok", "refused", "message"), [
    (C.Count, [1, 2**40], [0, -3], "must be an integer >= 1"),
    (C.Natural, [0, 7], [-1], "must be an integer >= 0"),
    (C.Rows, [1, 10_000_000], [0, 10_000_001], "must be an integer in [1, 10,000,000]"),
    (C.Seed, [0, 2**32 - 1], [-1, 2**32], "must be an integer in [0, 4,294,967,295]"),
    (C.Samples, [1, C.MAX_SAMPLES], [0, C.MAX_SAMPLES + 1], "must be an integer in [1, 100,000]"),
])
def test_integers_and_their_bounds(kind, ok, refused, message):
    assert [check(kind, v) for v in ok] == ok
    assert all(type(check(kind, v)) is int for v in ok)
    for value in refused:
        assert refusal(kind, value) == message


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None])
def test_integers_refuse_bools_floats_and_strings(value):
    assert refusal(C.Count, value) == "must be an integer >= 1"


def test_max_samples_is_ten_times_the_uci_protocols_t():
    assert C.MAX_SAMPLES == 100_000


@pytest.mark.parametrize(("kind", "ok", "refused", "message"), [
    (C.Rate, [0, 0.0, 0.5, 0.999], [1, 1.0, -0.1], "must be in [0, 1)"),
    (C.OpenUnit, [1e-9, 0.5, 0.999], [0, 1, 1.5], "must be in (0, 1)"),
    (C.Positive, [1e-300, 3], [0, -1], "must be a number > 0"),
    (C.NonNegative, [0, 2.5], [-1e-12], "must be a number >= 0"),
    (C.Coordinate, [-1e6, 0, 1e6], [-1e6 - 1, 1e6 + 1], "must be a number in [-1e6, 1e6]"),
    (C.Noise, [0, 1e6], [-0.1, 1e6 + 1], "must be a number in [0, 1e6]"),
])
def test_numbers_and_their_bounds(kind, ok, refused, message):
    got = [check(kind, v) for v in ok]
    assert got == [float(v) for v in ok] and all(type(v) is float for v in got)  # ints become floats
    for value in refused:
        assert refusal(kind, value) == message


@pytest.mark.parametrize("kind", [C.Rate, C.OpenUnit, C.Positive, C.NonNegative, C.Coordinate, C.Noise])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_numbers_must_be_finite_whatever_their_bounds(kind, value):
    assert refusal(kind, value) == "must be a finite number"


@pytest.mark.parametrize("value", [True, "0.1", None])
def test_numbers_refuse_bools_and_strings(value):
    assert refusal(C.Rate, value) == "must be in [0, 1)"


def test_one_of_names_the_choices():
    kind = C.one_of(("relu", "tanh"))
    assert check(kind, "tanh") == "tanh"
    assert refusal(kind, "swish") == "must be one of relu, tanh"
    assert refusal(kind, 1) == "must be one of relu, tanh"


def test_list_of_is_a_non_empty_tuple_of_distinct_items():
    kind = C.list_of(C.Count, "integers >= 1")
    assert check(kind, [3, 1, 2]) == (3, 1, 2)  # order kept
    assert refusal(kind, []) == "must be a non-empty list of integers >= 1"
    assert refusal(kind, 5) == "must be a non-empty list of integers >= 1"
    assert refusal(kind, [1, 2, 1]) == "must be a list without repeated values"


def test_list_of_reports_the_items_own_failure():
    assert refusal(C.list_of(C.Count, "integers >= 1"), [1, 0]) == "must be an integer >= 1"
    assert refusal(C.list_of(C.Rate, "rates"), [0.1, 1.5]) == "must be in [0, 1)"
    assert refusal(C.list_of(C.Positive, "numbers > 0"), [0.1, float("inf")]) == "must be a finite number"


def test_grid_of_refuses_values_that_name_the_same_member():
    kind = C.grid_of(C.Positive, "numbers > 0")
    assert check(kind, [1e-3, 1e-2]) == (1e-3, 1e-2)
    assert f"{0.1:g}" == f"{0.1000001:g}" == "0.1"  # why: both would be saved as l2_0.1
    assert refusal(kind, [0.1, 0.1000001]) == ("must be a list of values that differ in their first 6 significant "
                                               "digits (0.1 and 0.1000001 both name members '0.1')")
    assert check(kind, [0.1, 0.100001]) == (0.1, 0.100001)  # differ in the 6th digit: two names
    assert refusal(kind, [0.1, 0.1]) == "must be a list without repeated values"  # the exact repeat first


def test_text_is_a_non_empty_string_without_nul():
    assert check(C.Text, "data") == "data"
    assert refusal(C.Text, "") == "must be a non-empty string"
    assert refusal(C.Text, 5) == "must be a non-empty string"
    assert refusal(C.Text, "da\x00ta") == "must be a string without NUL characters"


def test_switch_is_a_strict_bool():
    assert check(C.Switch, True) is True and check(C.Switch, False) is False
    for value in ("yes", "true", 1, 0):
        assert refusal(C.Switch, value) == "must be true or false"


@pytest.mark.parametrize("value", ["auto", 1, 4, [0], [1, 0, 3]])
def test_devices_accepted(value):
    assert check(C.Devices, value) == value


@pytest.mark.parametrize("value", [0, -1, True, "cuda", [], [0, 0], [-1], [True], 1.0])
def test_devices_refused_in_one_wording(value):
    assert refusal(C.Devices, value) == \
        "must be 'auto', an integer >= 1 or a non-empty list of distinct device ids >= 0"


@pytest.mark.parametrize(("value", "expected"), [(64, (64,)), ([16, 8], (16, 8)), ((3,), (3,))])
def test_hidden_an_int_is_one_layer(value, expected):
    assert check(C.Hidden, value) == expected


@pytest.mark.parametrize("value", [[], [0], [16, 0], True, [True], 0, [1.5], "16"])
def test_hidden_refused(value):
    assert refusal(C.Hidden, value) == "must be a non-empty list of integers >= 1"
