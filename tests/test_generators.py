"""Column generators without a server: values, distributions, determinism, uniqueness."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from pgrehearse.scenario import ColumnSpec
from pgrehearse.seed import (
    Column,
    GeneratorContext,
    UnsatisfiableUnique,
    assemble_rows,
    build_generator,
)
from pgrehearse.seed._format import (
    copy_escape,
    format_consecutive,
    format_fixed,
    format_ints,
    format_timestamps,
)
from pgrehearse.seed._numbered import NumberedText, rising_heads

SPEC = TypeAdapter(ColumnSpec)


def _values(
    spec: dict[str, Any],
    count: int = 20_000,
    *,
    rows: int | None = None,
    first: int = 0,
    seed: int = 1,
    ref_keys: dict[str, Any] | None = None,
) -> list[str]:
    parsed = SPEC.validate_python(spec)
    context = GeneratorContext(seed, "t", "c", rows or count, ref_keys or {})
    column = Column("c", build_generator(parsed, context), parsed.null_fraction)
    return column.render(first, count, np.random.default_rng([seed, first]))


def test_int_uniform_stays_in_range_and_covers_it() -> None:
    values = [int(v) for v in _values({"int": [3, 7]})]
    assert min(values) == 3 and max(values) == 7
    assert set(values) == {3, 4, 5, 6, 7}


def test_int_distributions_have_their_shape() -> None:
    normal = np.array(
        [
            int(v)
            for v in _values(
                {"int": [0, 1000], "distribution": "normal", "mean": 500, "stddev": 50}
            )
        ]
    )
    assert 490 < normal.mean() < 510 and 45 < normal.std() < 55
    zipf = np.array(
        [int(v) for v in _values({"int": [1, 1000], "distribution": "zipf", "skew": 1.5})]
    )
    share_of_one = (zipf == 1).mean()
    assert 0.3 < share_of_one < 0.45  # 1 / zeta(1.5) ≈ 0.38
    lognormal = np.array(
        [int(v) for v in _values({"int": [0, 100_000], "distribution": "lognormal", "median": 100})]
    )
    assert 90 < np.median(lognormal) < 110 and lognormal.max() > 1_000  # long tail


def test_int_earlier_takes_an_earlier_rows_key_and_the_same_roots_in_any_blocks() -> None:
    spec = {"int": [101, 2100], "earlier": True, "null_fraction": 0.2}
    whole = _values(spec, 2000)
    cut = _values(spec, 700, rows=2000) + _values(spec, 1300, rows=2000, first=700)
    roots = [i for i, v in enumerate(whole) if v == "\\N"]
    assert roots == [i for i, v in enumerate(cut) if v == "\\N"]  # however the rows are cut
    assert roots[0] == 0 and 0.15 * 2000 < len(roots) < 0.25 * 2000
    keys = [(i, int(v)) for i, v in enumerate(whole) if v != "\\N"]
    assert all(101 <= key < 101 + i for i, key in keys)  # row i: the key of a row before it
    assert len({key for _, key in keys}) > 500
    never_null = _values({"int": [1, 50], "earlier": True}, 50)
    assert never_null[0] == "1" and all(int(v) <= i for i, v in enumerate(never_null[1:], 1))
    with pytest.raises(ValueError, match="`earlier` goes with neither"):
        SPEC.validate_python({"int": [1, 9], "earlier": True, "unique": True})


def test_distribution_options_must_fit_the_distribution() -> None:
    with pytest.raises(ValueError, match="mean does not apply to distribution 'zipf'"):
        SPEC.validate_python({"int": [1, 9], "distribution": "zipf", "mean": 3})


def test_float_respects_decimals_and_bounds() -> None:
    values = _values({"float": [-5, 5], "decimals": 2})
    assert all(re.fullmatch(r"-?\d+\.\d\d", v) for v in values)
    numbers = [float(v) for v in values]
    assert -5 <= min(numbers) < -4.5 and 4.5 < max(numbers) <= 5


def test_choice_weights_within_tolerance() -> None:
    values = _values({"choice": {"paid": 0.7, "pending": 0.2, "refunded": 0.1}}, 50_000)
    share = {k: values.count(k) / len(values) for k in ("paid", "pending", "refunded")}
    assert abs(share["paid"] - 0.7) < 0.01
    assert abs(share["pending"] - 0.2) < 0.01
    assert abs(share["refunded"] - 0.1) < 0.01


def test_null_fraction_within_tolerance() -> None:
    values = _values({"int": [1, 2], "null_fraction": 0.3}, 50_000)
    assert abs(values.count("\\N") / len(values) - 0.3) < 0.01


def test_bool_probability() -> None:
    values = _values({"bool": 0.25}, 50_000)
    assert set(values) == {"t", "f"}
    assert abs(values.count("t") / len(values) - 0.25) < 0.01


def test_between_dates_timestamps_and_increasing() -> None:
    days = _values({"between": [dt.date(2020, 1, 1), dt.date(2020, 1, 31)]})
    assert min(days) == "2020-01-01" and max(days) == "2020-01-31"
    stamps = _values({"between": [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)]})
    parsed = [dt.datetime.fromisoformat(s) for s in stamps]
    assert all(s.tzinfo is not None for s in parsed)
    assert min(parsed) >= dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert max(parsed) <= dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
    growing = _values(
        {
            "between": [dt.datetime(2020, 1, 1), dt.datetime(2021, 1, 1)],
            "distribution": "increasing",
        },
        1_000,
    )
    assert growing == sorted(growing) and growing[0].startswith("2020-01-01")
    assert growing[-1].startswith("2021-01-01")


def test_between_bounds_given_as_text_keep_their_times() -> None:
    """Text bounds with a time (JSON, a Python dict) make timestamps, even at midnight;
    text bounds without one make dates."""
    stamps = _values({"between": ["2020-01-01T00:00:00", "2020-01-02T00:00:00"]}, 1_000)
    assert len({s[11:19] for s in stamps}) > 100  # times of day, not all midnight
    days = _values({"between": ["2020-01-01", "2020-01-31"]}, 1_000)
    assert all(len(d) == 10 for d in days)


def test_text_lengths() -> None:
    values = _values({"text": [10, 20]})
    assert all(5 <= len(v) <= 20 for v in values)  # trailing space trimmed
    assert sum(len(v) for v in values) / len(values) > 12


def test_uuid_v4() -> None:
    values = _values({"uuid": "v4"}, 1_000)
    parsed = [uuid.UUID(v) for v in values]
    assert all(u.version == 4 for u in parsed)
    assert len(set(values)) == len(values)


def test_json_object_from_sub_generators() -> None:
    values = _values(
        {
            "json": {
                "n": {"int": [1, 3]},
                "tag": {"choice": ["a", 'b"q']},
                "ok": {"bool": 0.5},
                "maybe": {"int": [1, 1], "null_fraction": 1.0},
            }
        },
        500,
    )
    for value in values:
        decoded = json.loads(value.replace("\\\\", "\\"))
        assert decoded["n"] in (1, 2, 3) and decoded["tag"] in ("a", 'b"q')
        assert isinstance(decoded["ok"], bool) and decoded["maybe"] is None


def test_json_keys_that_need_quoting_and_an_empty_object() -> None:
    values = _values({"json": {'a "quoted" %s key': {"int": [1, 1]}, "b": {"int": [2, 2]}}}, 50)
    decoded = json.loads(values[0].replace("\\\\", "\\"))
    assert decoded == {'a "quoted" %s key': 1, "b": 2}
    assert set(_values({"json": {}}, 30)) == {"{}"}


def test_arrays() -> None:
    values = _values({"array": {"int": [1, 9]}, "length": [2, 4]}, 500)
    for value in values:
        assert value.startswith("{") and value.endswith("}")
        assert 2 <= len(value[1:-1].split(",")) <= 4


def test_ref_draws_existing_keys_uniform_and_zipf() -> None:
    keys = {"p.id": np.arange(100, 200, dtype=np.int64)}
    uniform = {int(v) for v in _values({"ref": "p.id"}, ref_keys=keys)}
    assert uniform == set(range(100, 200))
    skewed = [int(v) for v in _values({"ref": "p.id", "distribution": "zipf"}, ref_keys=keys)]
    assert skewed.count(100) > 10 * max(skewed.count(199), 1)


def test_same_seed_same_values_other_seed_other_values() -> None:
    spec = {"faker": "name", "pool": 50}
    assert _values(spec, 200, seed=5) == _values(spec, 200, seed=5)
    assert _values(spec, 200, seed=5) != _values(spec, 200, seed=6)


def test_columns_asking_for_the_same_faker_values_share_one_pool(cache_dir: Path) -> None:
    """Pools are a function of the data's seed and the spec, not of the column: 40 tables
    with a `name` each build one pool (1,500 such tables took five minutes); each column
    samples it with a stream of its own."""
    from pgrehearse.scenario import FakerColumn
    from pgrehearse.seed._generators import build_faker_pools

    names = FakerColumn(faker="name", pool=300)
    wanted = [(names, GeneratorContext(7, f"t{i}", "name", 100)) for i in range(40)]
    wanted.append((FakerColumn(faker="city", pool=300), GeneratorContext(7, "t0", "city", 100)))
    pools = build_faker_pools(wanted, workers=1)
    assert len(list((cache_dir / "faker").glob("*.json"))) == 2  # names once, cities once
    assert pools["t0.name"] == pools["t39.name"] != pools["t0.city"]
    assert build_faker_pools(wanted[:1], workers=1)["t0.name"] == pools["t0.name"]  # cached
    other_seed = build_faker_pools([(names, GeneratorContext(8, "t0", "name", 100))], workers=1)
    assert other_seed["t0.name"] != pools["t0.name"]


def test_unique_generators_are_unique_across_blocks() -> None:
    for spec in (
        {"int": [1, 100_000], "unique": True},
        {"faker": "email", "pool": 20, "unique": True},
        {"choice": [f"v{i}" for i in range(3_000)], "unique": True},
        {"text": [5, 10], "unique": True},
    ):
        first = _values(spec, 1_500, rows=3_000, first=0)
        second = _values(spec, 1_500, rows=3_000, first=1_500)
        assert len(set(first + second)) == 3_000, spec


def test_unique_text_stays_within_its_length() -> None:
    values = _values({"text": [6, 6], "unique": True}, 5_000, rows=20_000, first=15_000)
    assert len(set(values)) == 5_000 and {len(v) for v in values} == {6}
    with pytest.raises(UnsatisfiableUnique, match="too few"):
        _values({"text": [1, 2], "unique": True}, 2_000)


def test_numbered_uuids_are_distinct_and_parents_are_earlier_rows() -> None:
    keys = _values({"uuid": "numbered"}, 50_000, rows=50_000)
    assert len(set(keys)) == 50_000
    assert all(uuid.UUID(k).version == 4 for k in keys[:1000])
    assert _values({"uuid": "numbered"}, 100, rows=50_000, first=20_000) == keys[20_000:20_100]
    parents = _values({"uuid": "numbered", "of": "t.c"}, 50_000, rows=50_000)
    position = {key: row for row, key in enumerate(keys)}
    assert all(position[p] < row or row == 0 for row, p in enumerate(parents))
    assert len(set(parents)) > 10_000  # spread over the rows, not a few hot ones
    with pytest.raises(ValueError, match="`of` goes with uuid: numbered"):
        SPEC.validate_python({"uuid": "v4", "of": "t.c"})


def test_unique_email_stays_an_email() -> None:
    values = _values({"faker": "email", "pool": 10, "unique": True}, 100)
    assert all(re.fullmatch(r"[^@\s]+\.[1-9]\d*@[^@\s]+", v) for v in values)
    numbers = sorted(int(re.sub(r".*\.(\d+)@.*", r"\1", v)) for v in values)
    assert numbers == list(range(1, 101))  # each row its own number, written as it is
    people = [
        v.split(".")[0] for v in _values({"faker": "email", "pool": 10, "unique": True}, 5000)
    ]
    assert len(set(people)) >= 8  # the pool's values, not one repeated


def test_unique_faker_values_past_the_tables_rows_are_numbered_too() -> None:
    """An array's elements are more values than the table has rows."""
    values = _values({"array": {"faker": "email", "pool": 10, "unique": True}}, 300, rows=300)
    elements = [e for v in values for e in v[1:-1].split(",") if e]
    assert len(elements) > 300 and len(set(elements)) == len(elements)


@pytest.mark.parametrize("count", [1, 7, 10, 99, 1_000, 123_457])
@pytest.mark.parametrize("padded", [True, False])
def test_numbered_text_is_head_number_tail(count: int, padded: bool) -> None:
    heads = np.array([f"h{i:02d}." for i in range(37)], dtype=object)  # sorted
    tails = np.array([f"@d{i % 5}" if i % 3 else "" for i in range(37)], dtype=object)
    text = NumberedText(heads, tails, count, rising_heads(37, count), padded=padded)
    numbers = np.arange(count, dtype=np.int64)[::-1]
    unit = 10**text.low_digits
    index = rising_heads(37, count)(numbers // unit, unit)
    width = len(str(count)) if padded else 0
    expected = [
        f"{heads[i]}{n:0{width}d}{tails[i]}"
        for i, n in zip(index.tolist(), numbers.tolist(), strict=True)
    ]
    assert text.values(numbers) == expected
    if padded:  # sorted heads and zero-padded numbers: values rise with their number
        assert sorted(expected) == expected[::-1]


def test_numbered_text_rows_may_take_fixed_values() -> None:
    heads = np.array(["a-", "b-"], dtype=object)
    tails = np.array(["", ""], dtype=object)
    text = NumberedText(heads, tails, 500, rising_heads(2, 500), fixed=["common", "other"])
    numbers = np.array([3, 499, 250, 0], dtype=np.int64)
    picked = text.values(numbers, np.array([-1, 1, -1, 0], dtype=np.int64))
    assert picked == ["a-003", "other", "b-250", "common"]


def test_consecutive_numbers_are_formatted_as_str_would() -> None:
    for begin, count in [(0, 30_000), (9_990, 20), (123_456, 50_000), (-5, 20), (10**12 - 3, 9)]:
        assert format_consecutive(begin, count) == list(map(str, range(begin, begin + count)))


@pytest.mark.parametrize(
    "spec",
    [
        {"choice": ["a", "b"], "unique": True},
        {"int": [1, 10], "unique": True},
        {"between": [dt.date(2020, 1, 1), dt.date(2020, 1, 5)], "unique": True},
        {"range": [0, 99], "disjoint": True},
    ],
)
def test_unsatisfiable_uniqueness_is_an_error(spec: dict[str, Any]) -> None:
    with pytest.raises(UnsatisfiableUnique):
        _values(spec, 100)


def _bounds(text: str) -> tuple[str, str]:
    low, high = text.removeprefix("[").removesuffix(")").split(",")
    return low.strip('"'), high.strip('"')


@pytest.mark.parametrize(
    ("spec", "parse"),
    [
        ({"range": [0, 50_000], "length": [1, 500]}, int),
        ({"range": [0.5, 900.0], "length": [0.01, 5]}, float),
        (
            {"range": [dt.date(1900, 1, 1), dt.date(2100, 1, 1)], "length": ["1d", "9d"]},
            dt.date.fromisoformat,
        ),
        (
            {"range": [dt.datetime(2024, 1, 1), dt.datetime(2024, 6, 1)], "length": ["1min", "2h"]},
            lambda t: dt.datetime.fromisoformat(t.removesuffix("+00")),
        ),
    ],
)
def test_ranges_start_in_bounds_and_disjoint_ones_never_overlap(
    spec: dict[str, Any], parse: Any
) -> None:
    """Ranges start between the bounds and last no longer than asked; with disjoint (or
    unique), sorted by start, each ends before the next begins, across blocks."""
    low, high = (parse(str(b)) if not isinstance(b, int | float) else b for b in spec["range"])
    for separate in (False, True):
        texts = _values({**spec, "disjoint": separate}, 10_000, first=20_000, rows=50_000)
        ranges = sorted((parse(a), parse(b)) for a, b in map(_bounds, texts))
        assert all(low <= start <= high and start < end for start, end in ranges)
        overlaps = sum(a_end > b_start for (_, a_end), (b_start, _) in itertools.pairwise(ranges))
        if separate:
            assert overlaps == 0
        else:
            assert overlaps > 0  # random ranges do overlap: the check above can fail
    again = _values({**spec, "disjoint": True}, 10_000, first=20_000, rows=50_000)
    assert again == texts


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        (r"^[A-Z]{3}-[0-9]{4}$", None),
        (r"^[a-z0-9-]+$", None),
        (r"^[[:alpha:]]{2,5}\d?$", r"^[A-Za-z]{2,5}\d?$"),
        (r"^#[0-9a-fA-F]{6}$", None),
        (r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", None),
        (r"^(EU|US)-\d{5,6}$", None),
        (r"^(?:v|version)?\d{6}$", None),
        (r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", None),  # a repeated group, made once in numpy
        (r"^(\d{3}-){2}\d{4}$", None),
        (r"\mword\M-\d{5}", r"word-\d{5}"),
    ],
)
def test_pattern_values_match_and_unique_ones_are_distinct(
    pattern: str, python: str | None
) -> None:
    compiled = re.compile(python or pattern)
    for unique in (False, True):
        spec = {"pattern": pattern, "unique": unique}
        values = _values(spec, 5_000, first=20_000, rows=30_000 if unique else 10_000)
        assert all(compiled.search(v) for v in values), [
            v for v in values if not compiled.search(v)
        ][:3]
        if unique:
            whole = _values(spec, 30_000, rows=30_000)
            assert len(set(whole)) == len(whole)
        else:
            assert len(set(values)) > 10  # drawn, not one value
        assert _values(spec, 5_000, first=20_000, rows=30_000 if unique else 10_000) == values


def test_a_pattern_of_nested_groups_is_drawn_into_a_pool() -> None:
    pattern = r"^(a[0-9]|b(x|y))+-z$"
    values = _values({"pattern": pattern}, 2_000)
    assert all(re.fullmatch(pattern, v) for v in values) and len(set(values)) > 100
    unique = _values({"pattern": pattern, "unique": True}, 2_000)
    assert len(set(unique)) == 2_000 and all(re.fullmatch(pattern, v) for v in unique)


def test_pattern_values_fit_the_longest_and_too_few_for_unique_is_refused() -> None:
    values = _values({"pattern": "^[a-z]+-[0-9]+$", "longest": 6}, 5_000)
    assert max(map(len, values)) <= 6 and all(re.fullmatch("[a-z]+-[0-9]+", v) for v in values)
    with pytest.raises(UnsatisfiableUnique, match="676 distinct"):
        _values({"pattern": "^[A-Z]{2}$", "unique": True}, 1_000)
    with pytest.raises(ValueError, match="regular expression"):
        SPEC.validate_python({"pattern": "^[a-z"})


def test_unknown_faker_provider_is_rejected_with_suggestion() -> None:
    with pytest.raises(ValueError, match=r"no provider named 'emial'.*'email'"):
        SPEC.validate_python({"faker": "emial"})


def test_faker_locale_and_args() -> None:
    values = _values({"faker": "random_int", "args": {"min": 5, "max": 6}, "pool": 50}, 100)
    assert set(values) <= {"5", "6"}
    german = _values({"faker": "city", "locale": "de_DE", "pool": 30}, 100)
    assert german == _values({"faker": "city", "locale": "de_DE", "pool": 30}, 100)


def test_copy_escaping_and_row_assembly() -> None:
    assert copy_escape(["plain", "tab\there", "back\\slash", "new\nline"]) == [
        "plain",
        "tab\\there",
        "back\\\\slash",
        "new\\nline",
    ]
    parsed_a = SPEC.validate_python({"value": "x\ty"})
    parsed_b = SPEC.validate_python({"int": [1, 1]})
    context = GeneratorContext(1, "t", "a", 2)
    columns = [
        Column("a", build_generator(parsed_a, context), 0.0),
        Column("b", build_generator(parsed_b, context), 0.0),
    ]
    assert assemble_rows(columns, 0, 2, 0, 1, "t") == b"x\\ty\t1\nx\\ty\t1\n"


def test_fast_formatters_match_python_formatting() -> None:
    numbers = np.array([-3, 0, 7, 123_456_789], dtype=np.int64)
    assert format_ints(numbers, -3, 123_456_789) == ["-3", "0", "7", "123456789"]
    assert format_ints(np.array([5, 9]), 0, 10) == ["5", "9"]
    cents = np.array([-105, 0, 5, 123_456], dtype=np.int64)
    assert format_fixed(cents, 2, -105, 123_456) == ["-1.05", "0.00", "0.05", "1234.56"]
    assert format_fixed(cents, 2, -(10**9), 10**9) == ["-1.05", "0.00", "0.05", "1234.56"]
    assert format_timestamps(np.array([0, 86_399 + 86_400], dtype=np.int64)) == [
        "1970-01-01 00:00:00+00",
        "1970-01-02 23:59:59+00",
    ]
    for decimals in (1, 2, 3, 5):
        low, high = -2_345, 123_456
        units = np.arange(low, high + 1, dtype=np.int64)
        scale = 10**decimals
        assert format_fixed(units, decimals, low, high) == [
            f"{'-' if u < 0 else ''}{abs(u) // scale}.{abs(u) % scale:0{decimals}d}"
            for u in range(low, high + 1)
        ]
    seconds = np.arange(0, 86_400 * 2, 7, dtype=np.int64)  # every part of the day, both days
    assert format_timestamps(seconds) == [
        dt.datetime.fromtimestamp(int(s), dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00") for s in seconds
    ]
