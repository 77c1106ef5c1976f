"""GB 11643-1999 resident ID numbers: published examples, generated ones, scalar == vectorised."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from kongchuo import idnumber as idn

pytestmark = pytest.mark.fast  # make check

# Published examples: GB 11643-1999 (Appendix) and the widely cited 1949-12-31 Beijing example.
PUBLISHED_VALID = ["11010519491231002X", "440524188001010014"]


def _with_check(first17: str) -> str:
    return first17 + idn.check_digit(first17)


@pytest.mark.parametrize("value", PUBLISHED_VALID)
def test_published_examples_are_valid(value):
    assert idn.problem(value) is None
    assert idn.is_valid(value)


def test_check_digit_of_published_examples():
    assert idn.check_digit("11010519491231002") == "X"
    assert idn.check_digit("44052418800101001") == "4"


@pytest.mark.parametrize(
    "value, why",
    [
        ("110105194912310029", "check_digit"),  # the published example with its X replaced by 9
        ("110105194912310021", "check_digit"),
        ("440524188001010015", "check_digit"),
        (_with_check("11010519490230002"), "birth_date"),  # 30 February 1949
        (_with_check("11010520230229002"), "birth_date"),  # 2023 is not a leap year
        (_with_check("11010519491331002"), "birth_date"),  # month 13
        (_with_check("11010517991231002"), "birth_date"),  # before 1800
        (_with_check("11010521000101002"), "birth_date"),  # in the future
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        ("110105491231002", "length"),  # 15-digit first-generation numbers are not accepted
        ("1101051949123100AX", "chars"),
        ("1101051949123100２X", "chars"),  # full-width digit not normalised
        ("X10105194912310020", "chars"),
        (_with_check("00010519491231002"), "region"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_invalid(value, why):
    assert idn.problem(value) == why


def test_leap_day_is_valid():
    assert idn.problem(_with_check("41100320120229001")) is None


def test_region_prefixes():
    assert idn.problem("11010519491231002X", region_prefixes=("41", "34")) == "region"
    assert idn.problem(_with_check("41100320100305123"), region_prefixes=("41", "34")) is None


def test_normalize():
    assert idn.normalize(" １１０１０５ 19491231002x ") == "11010519491231002X"
    assert idn.normalize("") is None
    assert idn.normalize(None) is None
    assert idn.normalize(float("nan")) is None
    s = idn.normalize_series(pd.Series(["１１０１０５19491231002x", "", None, " 440524188001010014"]))
    assert s.tolist()[0] == "11010519491231002X"
    assert s.isna().tolist() == [False, True, True, False]


def test_birth_date_and_gender():
    assert idn.birth_date_of("11010519491231002X") == dt.date(1949, 12, 31)
    assert idn.gender_of("11010519491231002X") == "F"  # 17th digit 2
    assert idn.gender_of("440524188001010014") == "M"  # 17th digit 1


def test_generated_ids_are_valid_and_flipped_check_digits_are_not():
    rnd = random.Random(11643)
    for _ in range(500):
        born = dt.date(2008, 1, 1) + dt.timedelta(days=rnd.randrange(0, 365 * 10))
        value = idn.make_id(rnd.choice(["411003", "341802", "110105"]), born, rnd.randrange(0, 1000))
        assert idn.problem(value) is None
        assert idn.birth_date_of(value) == born
        wrong = next(c for c in "0123456789X" if c != value[-1])
        assert idn.problem(value[:17] + wrong) == "check_digit"


def test_series_matches_scalar_and_tolerates_duplicate_index():
    rnd = random.Random(5)
    values = [idn.make_id("411003", dt.date(2012, 3, 5), i) for i in range(50)]
    values += [v[:17] + ("0" if v[-1] != "0" else "1") for v in values[:10]]
    values += ["11010519491231002", "1101051949123100AX", None, _with_check("11010519490230002"),
               "440524188001010014", _with_check("00010519491231002"), "١١010519491231002X"]
    rnd.shuffle(values)
    # duplicate labels, as after pd.concat of two extracts
    series = pd.Series(values, index=[i // 2 for i in range(len(values))])
    got = idn.problem_series(series)
    assert list(got.index) == list(series.index)
    assert [None if pd.isna(x) else x for x in got.tolist()] == [idn.problem(v) for v in values]


def test_series_empty():
    assert idn.problem_series(pd.Series([], dtype="string")).empty
