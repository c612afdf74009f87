"""Numbered text at two string lookups a value: `head + number + tail`.

Formatting `head + str(number) + tail` one value at a time costs about 0.3 µs a value in
Python, which made unique and high-cardinality text the slowest columns to seed. Here the
number is cut in two: its high digits go with the head (one string per group of 10**d
numbers, the group choosing the head) and its low digits with the tail (one string per tail
and low part). Both tables are built once, a few thousand strings each, and a value is two
indexings and one concatenation (about 0.1 µs).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
HeadOfGroup = Callable[[IntArray, int], IntArray]  # (groups, numbers a group) -> head index


class NumberedText:
    """Number `n` of `count` as `heads[i] + n + tails[i]`, `i` chosen by `n`'s group of
    10**d numbers through `head_of_group`.

    `padded` numbers are zero-padded to `count`'s width (so values sort as their numbers
    do, when heads are sorted and `head_of_group` rises); others are written as they are.
    Rows may instead take one of the `fixed` values (a column's most common ones)."""

    def __init__(
        self,
        heads: npt.NDArray[Any],
        tails: npt.NDArray[Any],
        count: int,
        head_of_group: HeadOfGroup,
        *,
        padded: bool = True,
        fixed: list[str] | None = None,
    ) -> None:
        self.heads, self.count, self.fixed = heads, max(1, count), fixed or []
        self.head_of_group, self.padded = head_of_group, padded
        self.width = len(str(self.count))
        self.distinct_tails = sorted(set(tails.tolist()))
        tail_number = {tail: number for number, tail in enumerate(self.distinct_tails)}
        self.tail_ids = np.array([tail_number[t] for t in tails.tolist()], dtype=np.int64)
        self.low_digits = _low_digits(self.count, 2 * len(self.distinct_tails), self.width)

    @functools.cached_property
    def _tables(self) -> tuple[npt.NDArray[Any], IntArray, npt.NDArray[Any]]:
        """(prefix of each group then the fixed values, tail id of each group, suffix of each
        tail and low part then an empty one)."""
        unit = 10**self.low_digits
        groups = np.arange((self.count + unit - 1) // unit, dtype=np.int64)
        index = self.head_of_group(groups, unit)
        prefixes = np.array(
            [
                head + self._high(group)
                for head, group in zip(self.heads[index].tolist(), groups.tolist(), strict=True)
            ]
            + self.fixed,
            dtype=object,
        )
        padded = [f"{low:0{self.low_digits}d}" if self.low_digits else "" for low in range(unit)]
        # unpadded numbers write the low digits as they are where the high part is empty
        lows = padded if self.padded else [str(low) for low in range(unit)] + padded
        suffixes = [low + tail for tail in self.distinct_tails for low in lows]
        return prefixes, self.tail_ids[index], np.array([*suffixes, ""], dtype=object)

    def _high(self, group: int) -> str:
        high_width = self.width - self.low_digits
        if self.padded:
            return f"{group:0{high_width}d}" if high_width else ""
        return str(group) if group else ""

    def values(self, numbers: IntArray, fixed_index: IntArray | None = None) -> list[str]:
        """The text of each number; where `fixed_index` is not negative, that fixed value."""
        prefixes, group_tails, suffixes = self._tables
        unit = 10**self.low_digits
        groups, lows = np.divmod(numbers, unit)
        suffix = group_tails[groups] * (unit if self.padded else 2 * unit) + lows
        if not self.padded:
            suffix += (groups > 0) * unit
        if fixed_index is not None:
            fixed = fixed_index >= 0
            groups[fixed] = len(prefixes) - len(self.fixed) + fixed_index[fixed]
            suffix[fixed] = len(suffixes) - 1
        heads: list[str] = prefixes[groups].tolist()
        ends: list[str] = suffixes[suffix].tolist()
        return list(map(operator.add, heads, ends))


def rising_heads(heads: int, count: int) -> HeadOfGroup:
    """Heads in order of the numbers: the group's first number decides."""

    def head_of_group(groups: IntArray, unit: int) -> IntArray:
        index: IntArray = groups * unit * heads // max(1, count)
        return index

    return head_of_group


def _low_digits(count: int, tails: int, width: int) -> int:
    """The split that keeps both tables smallest: about count / 10**d prefixes and
    tails * 10**d suffixes."""
    return min(
        range(width + 1),
        key=lambda digits: -(-count // 10**digits) + tails * 10**digits,
    )
