"""What a table's CHECK constraints say about each column, read with PostgreSQL's parser.

The common forms are understood, so inferred generators satisfy them by construction:
- a column compared with constants: `a > 0`, `a <= 100`, `0 < a`, `d >= '2020-01-01'`
  (BETWEEN is stored as two comparisons);
- a list of allowed values: `a IN (…)`, `a = ANY (ARRAY[…])`, `a = 1 OR a = 2`;
- a length: `length(a) <= 20`, `char_length(a) = 3`, `octet_length(a) > 0`;
- JSON: `jsonb_typeof(a) = 'object'`, `jsonb_array_length(a) > 0`, the keys `a ? 'k'`,
  `a ?& ARRAY[…]`, `a ?| ARRAY[…]` (alone, or as one alternative of an OR: every object
  then holds the key);
- `a IS NOT NULL`;
- an order between two columns: `starts_at < ends_at`, and a gap between them:
  `ends_at >= starts_at + interval '1 hour'`, `due_on <= issued_on + 90`,
  `arrives_at - leaves_at < '2 days'`;
- any of these OR'd with `a IS NULL` (a NULL passes a CHECK: the rest must hold for values);
- which of several columns are NULL together: `a IS NOT NULL OR b IS NOT NULL`,
  `num_nonnulls(a, b) = 1`, `(a IS NULL) = (b IS NULL)`, and any AND/OR/NOT/=/<> of NULL
  tests and of num_nulls/num_nonnulls compared with numbers, kept as the NULL patterns
  (which columns have values) the CHECK allows;
and AND of any of these. Anything else leaves the constraint `understood=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pglast import parser
from pglast.parser import ParseError

from pgrehearse.regex import like_regex
from pgrehearse.seed._expressions import (
    FLIPPED,
    Value,
    called_on_column,
    column_of,
    columns_in,
    constant,
    constant_list,
    length_of,
    moment,
    null_tested,
    operator_of,
)
from pgrehearse.seed._gaps import Gap, gap_of
from pgrehearse.seed._json_checks import json_keys, json_length, json_typed, within
from pgrehearse.seed._null_logic import null_patterns


@dataclass
class Bound:
    value: Value
    inclusive: bool


@dataclass
class ColumnFacts:
    allowed: list[Value] | None = None
    low: Bound | None = None
    high: Bound | None = None
    min_length: int | None = None
    max_length: int | None = None
    not_null: bool = False
    always_null: bool = False  # `other_condition OR a IS NULL`: a left NULL makes it hold
    not_equal: list[Value] = field(default_factory=list)
    pattern: str | None = None  # a regular expression (PostgreSQL's) values must match
    case: str | None = None  # "upper" or "lower": `a = upper(a)`
    rising: bool = False  # a range partition's key: production inserts rows in its order
    json_type: str | None = None  # `jsonb_typeof(a) = 'array'`: the kind of JSON it holds
    items: tuple[int, int | None] = (0, None)  # `jsonb_array_length(a) > 0`: its length
    json_keys: tuple[str, ...] = ()  # `a ? 'amount'`: top-level keys its objects hold


@dataclass(frozen=True)
class NullRule:
    """A CHECK over which of several columns are NULL: the patterns it allows, each a tuple
    of one flag per column, True where the column has a value."""

    name: str
    columns: tuple[str, ...]
    allowed: frozenset[tuple[bool, ...]]


@dataclass(frozen=True)
class NullWhen:
    """`other = 'closed' OR column IS NULL`, `other <> 'closed' OR column IS NOT NULL`:
    whether `column` has a value follows `other`'s value. It has one exactly where `other`
    takes one of `values` (`inside`), or exactly where it takes none of them."""

    name: str
    column: str
    other: str
    values: tuple[Value, ...]
    inside: bool
    must: str  # what the CHECK itself requires elsewhere: "null" or "value"


@dataclass
class CheckFacts:
    """Per column, what every understood CHECK requires; and what was not understood."""

    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    before: list[tuple[str, str, bool]] = field(default_factory=list)  # (a, b, strict): a < b
    gaps: list[Gap] = field(default_factory=list)  # b follows a by at least or at most…
    # `a <> b`, `a IS DISTINCT FROM b`: tried on sample rows, and a reference kept apart
    differ: dict[tuple[str, str], str] = field(default_factory=dict)  # -> the CHECK's name
    null_rules: list[NullRule] = field(default_factory=list)
    null_when: list[NullWhen] = field(default_factory=list)
    not_understood: list[str] = field(default_factory=list)  # constraint names
    definitions: dict[str, str] = field(default_factory=dict)  # of those not understood
    every: dict[str, str] = field(default_factory=dict)  # every CHECK's expression, by name

    def of(self, column: str) -> ColumnFacts:
        return self.columns.setdefault(column, ColumnFacts())

    def merge(self, other: CheckFacts) -> None:
        """Add what `other` requires too (both must hold: allowed values intersect)."""
        for name, theirs in other.columns.items():
            mine = self.of(name)
            if theirs.allowed is not None:
                _allow(mine, theirs.allowed)
            mine.json_type = theirs.json_type or mine.json_type
            mine.items = within(mine.items, theirs.items)
            mine.json_keys = tuple(dict.fromkeys(mine.json_keys + theirs.json_keys))
            if theirs.low is not None and (mine.low is None or _above(theirs.low, mine.low)):
                mine.low = theirs.low
            if theirs.high is not None and (mine.high is None or _above(mine.high, theirs.high)):
                mine.high = theirs.high
            mine.not_null = mine.not_null or theirs.not_null
            mine.rising = mine.rising or theirs.rising
            mine.always_null = mine.always_null or theirs.always_null
            if theirs.min_length is not None:
                mine.min_length = max(mine.min_length or 0, theirs.min_length)
            if theirs.max_length is not None:
                mine.max_length = min(
                    theirs.max_length if mine.max_length is None else mine.max_length,
                    theirs.max_length,
                )
            mine.not_equal += theirs.not_equal
            mine.pattern = mine.pattern or theirs.pattern
            mine.case = mine.case or theirs.case
        self.before += other.before
        self.gaps += other.gaps
        self.differ |= other.differ
        self.null_rules += other.null_rules
        self.null_when += other.null_when
        self.not_understood += other.not_understood
        self.definitions |= other.definitions
        self.every |= other.every


def read_checks(definitions: list[tuple[str, str]]) -> CheckFacts:
    """Facts from `(constraint name, pg_get_constraintdef)` pairs."""
    facts = CheckFacts()
    for name, definition in definitions:
        expression = definition.strip()
        if expression.upper().startswith("CHECK"):
            expression = expression[5:].strip()
        expression = expression.removesuffix("NOT VALID").strip()
        facts.every[name] = expression
        try:
            tree = json.loads(parser.parse_sql_json("SELECT " + expression))
            node = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
        except (ParseError, KeyError, IndexError, ValueError):
            facts.not_understood.append(name)
            facts.definitions[name] = expression
            continue
        if not _conjunct(node, facts, name):
            facts.not_understood.append(name)
            facts.definitions[name] = expression
        facts.differ |= {pair: name for pair, named in facts.differ.items() if not named}
    return facts


def _conjunct(node: dict[str, Any], facts: CheckFacts, name: str) -> bool:
    """Record what `node` requires; False when (part of) it is not a form we know."""
    if _null_rule(node, facts, name):
        return True
    if "BoolExpr" in node:
        boolean = node["BoolExpr"]
        if boolean["boolop"] == "AND_EXPR":
            understood = [_conjunct(arg, facts, name) for arg in boolean["args"]]  # all of them
            return all(understood)
        if boolean["boolop"] == "OR_EXPR":
            return _alternatives(boolean["args"], facts, name)
        return False
    if "A_Expr" in node:
        return _null_as(node["A_Expr"], facts, name) or _comparison(node["A_Expr"], facts)
    return False


def _null_as(expr: dict[str, Any], facts: CheckFacts, name: str) -> bool:
    """`(status = 'published') = (published_at IS NOT NULL)` (or `<>`, or `IS NULL`): the
    column has a value exactly where the other column takes those values, or exactly
    where it does not."""
    operator = operator_of(expr) if expr["kind"] == "AEXPR_OP" else None
    if operator not in ("=", "<>"):
        return False
    sides = (expr["lexpr"], expr.get("rexpr") or {})
    for test, condition in (sides, sides[::-1]):
        present, absent = null_tested(test, "IS_NOT_NULL"), null_tested(test, "IS_NULL")
        column = present or absent
        member = _membership([condition]) if column is not None else None
        if column is None or member is None or column in columns_in(condition):
            continue
        other, listed, inside = member
        valued_inside = (present is not None) == (operator == "=")
        facts.null_when.append(
            NullWhen(name, column, other, listed, inside if valued_inside else not inside, "null")
        )
        return True
    return False


def _alternatives(args: list[dict[str, Any]], facts: CheckFacts, name: str) -> bool:
    """`a = 1 OR a = 2 OR a IN (3, 4)`: the allowed values of one column. Alternatives
    `a IS NULL` are dropped: NULL passes the CHECK anyway, and values that meet the rest
    meet the whole."""
    nulls = {c for arg in args if (c := null_tested(arg, "IS_NULL")) is not None}
    rest = [arg for arg in args if null_tested(arg, "IS_NULL") is None]
    if nulls and rest:
        scratch = CheckFacts()
        if len(rest) == 1:
            understood = _conjunct(rest[0], scratch, name)
        else:
            understood = _alternatives(rest, scratch, name)
        if not columns_in(rest) & nulls:
            tested = sorted(nulls)[0]
            member = _membership(rest)
            if member is not None and len(nulls) == 1:  # a has a value where rest holds
                facts.null_when.append(NullWhen(name, tested, *member, "null"))
                return True
            # `other_condition OR a IS NULL`: a stays NULL (its values would have to follow
            # the other columns' values)
            facts.of(tested).always_null = True
            return True
        if understood and not scratch.null_rules:
            facts.merge(scratch)  # stronger than the CHECK: values that meet it meet the CHECK
            return True
        facts.differ |= scratch.differ  # `a IS NULL OR a <> b`: kept apart where a is set
        return False
    for arg in args:  # `other_condition OR a IS NOT NULL`: a has a value where it fails
        present = null_tested(arg, "IS_NOT_NULL")
        others = [a for a in args if a is not arg]
        if present is None or present in columns_in(others):
            continue
        member = _membership(others)
        if member is not None:
            other, listed, inside = member
            facts.null_when.append(NullWhen(name, present, other, listed, not inside, "value"))
        else:
            facts.of(present).not_null = True
        return True
    for arg in args:  # `kind <> 'purchase' OR payload ? 'amount'`: every object holds it
        keyed = CheckFacts()
        if "A_Expr" in arg and json_keys(arg["A_Expr"], keyed):
            facts.merge(keyed)  # stronger than the CHECK, and the other columns stay free
            return True
    column_seen: str | None = None
    values: list[Value] = []
    for arg in args:
        expr = arg.get("A_Expr")
        if expr is None:
            return False
        column, allowed = _equality(expr)
        if column is None or allowed is None or column_seen not in (None, column):
            return False
        column_seen = column
        values += allowed
    if column_seen is None:
        return False
    _allow(facts.of(column_seen), values)
    return True


def _membership(args: list[dict[str, Any]]) -> tuple[str, tuple[Value, ...], bool] | None:
    """`x = 1`, `x IN (1, 2)`, `x = 1 OR x = 2` (inside: True), `x <> 1`, `x NOT IN (1, 2)`
    (inside: False), over one column and constants: (x, the constants, inside)."""
    column_seen: str | None = None
    values: list[Value] = []
    inside = True
    for arg in args:
        expr = arg.get("A_Expr")
        if expr is None:
            return None
        column, allowed = _equality(expr)
        if column is None and len(args) == 1 and operator_of(expr) == "<>":
            column, allowed, inside = _not_equal(expr)
        if column is None or allowed is None or column_seen not in (None, column):
            return None
        column_seen = column
        values += allowed
    return None if column_seen is None else (column_seen, tuple(values), inside)


def _not_equal(expr: dict[str, Any]) -> tuple[str | None, list[Value] | None, bool]:
    if expr["kind"] == "AEXPR_IN":  # NOT IN
        return column_of(expr["lexpr"]), constant_list(expr["rexpr"]), False
    if expr["kind"] == "AEXPR_OP_ALL":  # <> ALL (ARRAY[…]), NOT IN as the catalog stores it
        return column_of(expr["lexpr"]), constant_list(expr["rexpr"]), False
    column, value = column_of(expr["lexpr"]), constant(expr.get("rexpr"))
    if column is None:
        column, value = column_of(expr.get("rexpr")), constant(expr["lexpr"])
    return column, None if value is None else [value], False


def _null_rule(node: dict[str, Any], facts: CheckFacts, name: str) -> bool:
    """A CHECK made only of NULL tests: recorded as the NULL patterns it allows (over two
    columns or more), or as NOT NULL (over one). False for anything else."""
    found = null_patterns(node)
    if found is None:
        return False
    columns, allowed = found
    if len(columns) == 1:
        if allowed == {(True,)}:
            facts.of(columns[0]).not_null = True
            return True
        return len(allowed) == 2  # always true; never true (always NULL) is not a form we make
    facts.null_rules.append(NullRule(name, tuple(columns), allowed))
    return True


def _equality(expr: dict[str, Any]) -> tuple[str | None, list[Value] | None]:
    op = operator_of(expr)
    if expr["kind"] in ("AEXPR_OP_ANY", "AEXPR_IN") and op == "=":
        return _folded(expr["lexpr"], constant_list(expr["rexpr"]))
    if expr["kind"] == "AEXPR_OP" and op == "=":
        value = constant(expr.get("rexpr"))
        column, allowed = _folded(expr["lexpr"], None if value is None else [value])
        if column is None:
            value = constant(expr["lexpr"])
            column, allowed = _folded(expr.get("rexpr"), None if value is None else [value])
        return column, allowed
    return None, None


_CASE_FOLDS = {"upper": str.upper, "lower": str.lower}


def _folded(node: Any, values: list[Value] | None) -> tuple[str | None, list[Value] | None]:
    """The column that `node` is, or that `upper(col)`/`lower(col)` folds (as in
    `upper(gender::text) IN ('M', 'F')`), and of `values` those it can take: for a fold,
    the values already in its case, which the column then holds as they are."""
    column = column_of(node)
    if column is not None or values is None:
        return column, values
    called = called_on_column(node)
    fold = _CASE_FOLDS.get(called[0]) if called is not None else None
    if called is None or fold is None:
        return None, None
    kept = [v for v in values if not isinstance(v, str) or fold(v) == v]
    return (called[1], kept) if kept else (None, None)


def _comparison(expr: dict[str, Any], facts: CheckFacts) -> bool:
    column, allowed = _equality(expr)
    if column is not None and allowed is not None:
        _allow(facts.of(column), allowed)
        return True
    if _matching(expr, facts) or _one_case(expr, facts) or json_typed(expr, facts):
        return True
    if json_length(expr, facts) or json_keys(expr, facts):
        return True
    if expr["kind"] == "AEXPR_BETWEEN":  # as written; the catalog stores two comparisons
        column, bounds = column_of(expr["lexpr"]), constant_list(expr.get("rexpr"))
        if column is None or bounds is None or len(bounds) != 2:
            return False
        _bound(facts.of(column), ">=", bounds[0])
        _bound(facts.of(column), "<=", bounds[1])
        return True
    if expr["kind"] in ("AEXPR_OP_ALL", "AEXPR_IN") and operator_of(expr) == "<>":
        column, excluded, _ = _not_equal(expr)  # NOT IN (…), <> ALL (ARRAY[…])
        if column is None or excluded is None:
            return False
        facts.of(column).not_equal += excluded
        return True
    apart = (column_of(expr["lexpr"]), column_of(expr.get("rexpr")))
    if apart[0] and apart[1] and (expr["kind"] == "AEXPR_DISTINCT" or operator_of(expr) == "<>"):
        facts.differ[(apart[0], apart[1])] = ""  # named by `read_checks`
        return False  # still tried on sample rows: only references are kept apart
    if expr["kind"] != "AEXPR_OP":
        return False
    op = operator_of(expr)
    if op not in FLIPPED:
        return False
    gap = gap_of(expr)
    if gap is not None:  # `ends_at >= starts_at + '01:00:00'::interval`
        facts.before.append((gap.earlier, gap.later, False))
        facts.gaps.append(gap)
        return True
    left, right = expr["lexpr"], expr.get("rexpr")
    left_column, right_column = column_of(left), column_of(right)
    if left_column is not None and right_column is not None:
        if op in ("<", "<="):
            facts.before.append((left_column, right_column, op == "<"))
            return True
        if op in (">", ">="):
            facts.before.append((right_column, left_column, op == ">"))
            return True
        return False
    if left_column is None and right_column is not None:
        left, right, op = right, left, FLIPPED[op]
    measured = length_of(left)
    value = constant(right)
    if value is None and measured is None:  # `hired <= now() + '1 day'::interval`
        value = moment(right, upper=op in ("<", "<="))
    if value is None:
        return False
    if measured is not None and isinstance(value, int):
        return _length(facts.of(measured), op, value)
    column = column_of(left)
    if column is None:
        return False
    _bound(facts.of(column), op, value)
    return True


def _one_case(expr: dict[str, Any], facts: CheckFacts) -> bool:
    """`a = upper(a)`, `lower(a) = a`: the column's text is in one case."""
    if expr["kind"] != "AEXPR_OP" or operator_of(expr) != "=":
        return False
    for plain, other in ((expr["lexpr"], expr.get("rexpr")), (expr.get("rexpr"), expr["lexpr"])):
        column = column_of(plain)
        called = called_on_column(other)
        if called is not None and called[0] in _CASE_FOLDS and called[1] == column:
            facts.of(called[1]).case = called[0]
            return True
    return False


_REGEX_OPERATORS = {"~", "~*"}
_LIKE_OPERATORS = {"~~", "~~*"}


def _matching(expr: dict[str, Any], facts: CheckFacts) -> bool:
    """`a ~ 'regex'`, `a ~* 'regex'`, `a LIKE 'pattern'`: the one pattern a's values match
    (a second one on the same column is not understood: values for one may miss the other)."""
    op = operator_of(expr)
    column, value = column_of(expr["lexpr"]), constant(expr.get("rexpr"))
    if column is None or not isinstance(value, str):
        return False
    if op in _REGEX_OPERATORS:
        regex = value if op == "~" else "(?i)" + value
    elif op in _LIKE_OPERATORS:
        regex = like_regex(value)
    else:
        return False
    mine = facts.of(column)
    if mine.pattern is not None and mine.pattern != regex:
        return False
    mine.pattern = regex
    return True


def _above(a: Bound, b: Bound) -> bool:
    """Whether bound `a` lies above `b` (values of one kind compare; others: keep `b`)."""
    try:
        return bool(a.value > b.value)  # type: ignore[operator]
    except TypeError:
        return False


def _allow(column: ColumnFacts, values: list[Value]) -> None:
    if column.allowed is None:
        column.allowed = list(values)
    else:
        column.allowed = [v for v in column.allowed if v in values]


def _bound(column: ColumnFacts, op: str, value: Value) -> None:
    if op == "<>":
        column.not_equal.append(value)
    if op in (">", ">="):
        column.low = Bound(value, op == ">=")
    if op in ("<", "<="):
        column.high = Bound(value, op == "<=")


def _length(column: ColumnFacts, op: str, value: int) -> bool:
    low = {">": value + 1, ">=": value, "=": value}.get(op)
    high = {"<": value - 1, "<=": value, "=": value}.get(op)
    if low is None and high is None:
        return op == "<>"
    if low is not None:
        column.min_length = max(column.min_length or 0, low)
    if high is not None:
        column.max_length = high if column.max_length is None else min(column.max_length, high)
    return True
