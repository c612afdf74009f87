"""Rows of a partitioned table sent straight to their leaf partitions, frozen.

COPY into a partitioned table has the server route every row, and cannot FREEZE. COPY into
each leaf can: the same rows loaded leaf by leaf with FREEZE went in at 1.09× the rows/s of
the parent's COPY here (7 yearly partitions, 1M rows). The seeding workers hold each row's
key as text already, so they sort each block by leaf. That works when every level of the
tree is a range or list partitioning on one plain column whose text can be read back
(numbers, dates, timestamps at UTC for timestamptz, and text for lists), or a hash
partitioning on one smallint, integer or bigint column: its leaf is found by PostgreSQL's
own hash (`_hash`, checked against the server's `hashint8extended`). Other trees
(expression keys, keys over several columns, hashes of other types) keep going through the
parent. A row no leaf takes (a value pgrehearse could not read) goes to the parent too, so
the server routes it or names the error.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from pgrehearse.seed._expressions import Value
from pgrehearse.seed._hash import HASHED_INTEGERS, partition_hash
from pgrehearse.seed._partitions import constants_of

NULL = "\\N"  # COPY text's NULL
TO_PARENT = -1  # the leaf index of rows the parent's COPY routes

_TREE = """
SELECT c.oid, t.parentrelid::oid, t.isleaf, pg_get_expr(c.relpartbound, c.oid),
       format('%%I.%%I', n.nspname, c.relname),
       pt.partstrat, pt.partnatts, pt.partexprs IS NOT NULL,
       (SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]),
       (SELECT format_type(a.atttypid, NULL) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0])
FROM pg_partition_tree(%s::regclass) t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
ORDER BY t.level, c.oid
"""
_NUMBER_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
_HASH_BOUND = re.compile(r"FOR VALUES WITH \(modulus (\d+), remainder (\d+)\)", re.IGNORECASE)
_MOMENT_TYPES = {"date", "timestamp without time zone", "timestamp with time zone"}


KeyKind = Literal["moments", "integers"]
# a key column's values for the block as numbers, by position, where its generator makes
# them exactly (moments as epoch seconds); None: read them from the column's text
ExactKeys = Callable[[int, KeyKind], "npt.NDArray[np.int64] | None"]
TextOf = Callable[[int], list[str]]  # a column's COPY text for the block, by position


@dataclass
class _Child:
    low: float = -math.inf  # range: [low, high)
    high: float = math.inf
    values: frozenset[str] = frozenset()  # list: the values as COPY text
    accepts_null: bool = False
    default: bool = False
    leaf: int = TO_PARENT
    node: _Node | None = None
    modulus: int = 0  # hash: rows whose hash % modulus == remainder
    remainder: int = 0


@dataclass
class _Node:
    column: str
    key_type: str  # as format_type prints it
    kind: str  # number | moment | utc_moment | text | hash
    strategy: str  # r | l | h
    children: list[_Child] = field(default_factory=list)
    position: int = -1  # the key column's index among the COPY columns


@dataclass
class LeafRouter:
    """Which leaf each row of a block belongs to."""

    leaves: list[str]  # qualified names, indexed by leaf number
    root: _Node

    def bind(self, copy_columns: Sequence[str]) -> bool:
        """Point every level at its key among the COPY columns; False if one is missing
        (a key the database fills, e.g. by its default, cannot be read before it does)."""
        for node in _nodes(self.root):
            if node.column not in copy_columns:
                return False
            node.position = list(copy_columns).index(node.column)
        return True

    def key_columns(self) -> set[str]:
        """The columns the levels of the tree are keyed on."""
        return {node.column for node in _nodes(self.root)}

    def route(self, text_of: TextOf, count: int, exact: ExactKeys) -> npt.NDArray[np.int64]:
        """Each row's leaf, from its key columns' text (`text_of(position)`). `exact(position)`
        may give a column's moments as epoch seconds straight from its generator, which
        saves reading them back from text."""
        leaves = np.full(count, TO_PARENT, dtype=np.int64)
        _route(self.root, text_of, np.arange(count), leaves, exact)
        return leaves


# columns the parent fills but a leaf would not: an identity before PostgreSQL 17 belongs to
# the parent alone, so a row copied into the leaf would get NULL
_FILLED_BY_PARENT_ONLY = """
SELECT DISTINCT p.attname, p.attidentity <> '' AND l.attidentity = '',
       pg_get_serial_sequence(%(parent)s::text, p.attname::text), s.seqstart, s.seqincrement
FROM pg_attribute p
JOIN pg_partition_tree(%(parent)s::regclass) t ON t.isleaf
JOIN pg_attribute l ON l.attrelid = t.relid AND l.attname = p.attname
LEFT JOIN pg_sequence s
       ON s.seqrelid = pg_get_serial_sequence(%(parent)s::text, p.attname::text)::regclass
WHERE p.attrelid = %(parent)s::regclass AND p.attnum > 0 AND NOT p.attisdropped
  AND NOT (p.attname = ANY(%(copied)s))
  AND ((p.attidentity <> '' AND l.attidentity = '') OR (p.atthasdef AND NOT l.atthasdef))
"""


@dataclass(frozen=True)
class ParentIdentity:
    """An identity column of the parent that its leaves lack: the seeder numbers the rows
    itself, as the sequence would, and moves the sequence past them afterwards."""

    column: str
    sequence: str
    start: int
    step: int


def identities_of_parent(
    conn: psycopg.Connection[Any], relation: str, copied: Sequence[str]
) -> list[ParentIdentity] | None:
    """The parent's identities a leaf lacks; None if a leaf lacks another kind of default
    (then rows go through the parent)."""
    found = []
    for column, is_identity, sequence, start, step in conn.execute(
        _FILLED_BY_PARENT_ONLY, {"parent": relation, "copied": list(copied)}
    ):
        if not is_identity or sequence is None or step is None or step < 1:
            return None
        found.append(ParentIdentity(column, sequence, int(start), int(step)))
    return found


def build_router(
    conn: psycopg.Connection[Any], relation: str, copied: Sequence[str]
) -> LeafRouter | None:
    """The router of a partitioned table whose rows give the `copied` columns, or None
    where rows must go through the parent."""
    nodes: dict[int, _Node] = {}
    leaves: list[str] = []
    root: _Node | None = None
    for (
        oid,
        parent,
        is_leaf,
        bound,
        name,
        strategy,
        key_count,
        by_expression,
        key,
        key_type,
    ) in conn.execute(_TREE, (relation,)).fetchall():
        child: _Child | None = None
        if parent is not None:
            found = nodes.get(parent)
            child = _child(conn, found, bound or "") if found is not None else None
            if found is None or child is None:
                return None
            found.children.append(child)
        if is_leaf:
            if child is None:
                return None
            child.leaf = len(leaves)
            leaves.append(name)
            continue
        if strategy not in ("r", "l", "h") or key_count != 1 or by_expression:
            return None
        kind = _kind(key_type or "", strategy)
        if kind is None:
            return None
        node = _Node(key, key_type, kind, strategy)
        nodes[oid] = node
        if child is None:
            root = node
        else:
            child.node = node
    if root is None or not leaves:
        return None
    router = LeafRouter(leaves, root)
    return router if router.bind(copied) else None


def _kind(key_type: str, strategy: str) -> str | None:
    if strategy == "h":
        return "hash" if key_type in HASHED_INTEGERS else None
    if key_type in _NUMBER_TYPES:
        return "number"
    if key_type == "timestamp with time zone":
        return "utc_moment"
    if key_type in _MOMENT_TYPES:
        return "moment"
    if strategy == "l" and key_type in ("text", "character varying", "character"):
        return "text"
    return None


def _child(conn: psycopg.Connection[Any], node: _Node, bound: str) -> _Child | None:
    text = bound.strip()
    upper = text.upper()
    if upper == "DEFAULT":
        return _Child(default=True)
    hashed = _HASH_BOUND.fullmatch(text)
    if node.strategy == "h" and hashed is not None:
        return _Child(modulus=int(hashed.group(1)), remainder=int(hashed.group(2)))
    if node.strategy == "l" and upper.startswith("FOR VALUES IN"):
        values = constants_of(text[len("FOR VALUES IN") :])
        if any(isinstance(v, str) and ("\\" in v or "\t" in v or "\n" in v) for v in values):
            return None
        return _Child(
            values=frozenset(str(v) for v in values if v is not None),
            accepts_null=any(v is None for v in values),
        )
    if node.strategy == "r" and upper.startswith("FOR VALUES FROM") and " TO " in upper:
        cut = upper.index(" TO ")
        low = constants_of(text[len("FOR VALUES FROM") : cut])
        high = constants_of(text[cut + len(" TO ") :])
        if len(low) != 1 or len(high) != 1:
            return None
        return _Child(
            low=-math.inf if low[0] is None else _as_number(conn, node, low[0]),
            high=math.inf if high[0] is None else _as_number(conn, node, high[0]),
        )
    return None


def _as_number(conn: psycopg.Connection[Any], node: _Node, value: Value) -> float:
    """A bound as the router compares it: the number, or a moment's epoch seconds as the
    server reads the bound's text (in its time zone for timestamptz)."""
    if node.kind == "number":
        return float(value)
    row = conn.execute(
        sql.SQL("SELECT extract(epoch FROM CAST(%s AS {}))").format(sql.SQL(node.key_type)),
        (str(value),),
    ).fetchone()
    return float(row[0]) if row else math.nan


def _nodes(node: _Node) -> Iterator[_Node]:
    yield node
    for child in node.children:
        if child.node is not None:
            yield from _nodes(child.node)


def _route(
    node: _Node,
    text_of: TextOf,
    rows: npt.NDArray[np.int64],
    leaves: npt.NDArray[np.int64],
    exact: ExactKeys,
) -> None:
    whole = len(rows) == len(leaves)
    known = None
    if node.strategy in ("r", "h"):  # keys with no NULL, straight from their generator
        integers = node.strategy == "h" or node.kind == "number"
        known = exact(node.position, "integers" if integers else "moments")
    if known is not None:
        exact_keys = known if whole else known[rows]
        if node.strategy == "h":
            picked = _hashed_child(node, exact_keys, np.ones(len(exact_keys), dtype=bool))
        else:
            keys = exact_keys.astype(np.float64)
            picked = _pick_range(node, [], (keys, np.ones(len(keys), dtype=bool)))
    else:
        texts = text_of(node.position)
        subset = texts if whole else [texts[i] for i in rows.tolist()]
        if node.strategy == "l":
            picked = _pick_list(node, subset)
        elif node.strategy == "h":
            picked = _pick_hash(node, subset)
        else:
            picked = _pick_range(node, subset, _read_keys(node.kind, subset))
    # the leaf each child is, TO_PARENT for a sub-partitioned one (and, last, for picked
    # TO_PARENT): one gather instead of a pass over the rows per child
    leaf_of = np.array([c.leaf if c.node is None else TO_PARENT for c in node.children])
    leaf_of = np.append(leaf_of, TO_PARENT)
    leaves[rows] = leaf_of[picked]
    for index, child in enumerate(node.children):
        if child.node is not None and len(chosen := rows[picked == index]):
            _route(child.node, text_of, chosen, leaves, exact)


def _pick_list(node: _Node, texts: list[str]) -> npt.NDArray[np.int64]:
    index_of: dict[str, int] = {}
    null_child = default_child = TO_PARENT
    for index, child in enumerate(node.children):
        for value in child.values:
            index_of[value] = index
        if child.accepts_null:
            null_child = index
        if child.default:
            default_child = index
    if node.kind == "number":  # 1 and 1.0 are one value
        index_of |= {_number_text(v): i for v, i in list(index_of.items())}
        texts = [_number_text(t) for t in texts]
    return np.fromiter(
        (null_child if text == NULL else index_of.get(text, default_child) for text in texts),
        dtype=np.int64,
        count=len(texts),
    )


def _pick_hash(node: _Node, texts: list[str]) -> npt.NDArray[np.int64]:
    """The child whose (modulus, remainder) takes each key's partition hash; an unreadable
    key goes to the parent."""
    keys, readable = _read_integers(texts)
    return _hashed_child(node, keys, readable, keys_are_null(texts))


def _hashed_child(
    node: _Node,
    keys: npt.NDArray[np.int64],
    readable: npt.NDArray[np.bool_],
    nulls: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    row_hash = partition_hash(keys, HASHED_INTEGERS[node.key_type])
    if nulls is not None:
        row_hash[nulls] = 0  # a NULL key adds nothing to the hash
    picked = np.full(len(keys), TO_PARENT, dtype=np.int64)
    for index, child in enumerate(node.children):
        if child.modulus:
            picked[row_hash % np.uint64(child.modulus) == np.uint64(child.remainder)] = index
    picked[~readable] = TO_PARENT
    return picked


def keys_are_null(texts: list[str]) -> npt.NDArray[np.bool_]:
    return np.fromiter((t == NULL for t in texts), dtype=bool, count=len(texts))


def _read_integers(texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    try:
        keys = np.array([0 if t == NULL else int(t) for t in texts], dtype=np.int64)
        return keys, np.ones(len(texts), dtype=bool)
    except (ValueError, OverflowError):
        keys = np.zeros(len(texts), dtype=np.int64)
        readable = np.zeros(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            try:
                keys[i] = 0 if text == NULL else int(text)
                readable[i] = True
            except (ValueError, OverflowError):
                pass
        return keys, readable


def _number_text(text: str) -> str:
    try:
        return repr(float(text))
    except ValueError:
        return text


def _pick_range(
    node: _Node,
    texts: list[str],
    read: tuple[npt.NDArray[np.float64], npt.NDArray[Any]],
) -> npt.NDArray[np.int64]:
    keys, readable = read
    bounded = [(c.low, c.high, i) for i, c in enumerate(node.children) if not c.default]
    bounded.sort()
    lows = np.array([b[0] for b in bounded])
    highs = np.array([b[1] for b in bounded])
    numbers = np.array([b[2] for b in bounded], dtype=np.int64)
    default_child = next((i for i, c in enumerate(node.children) if c.default), TO_PARENT)
    slot = np.searchsorted(lows, keys, side="right") - 1
    safe = np.clip(slot, 0, max(len(bounded) - 1, 0))
    inside = (slot >= 0) & (keys < highs[safe]) if len(bounded) else np.zeros(len(keys), bool)
    picked = np.where(inside, numbers[safe] if len(bounded) else 0, default_child)
    if NULL in texts:
        nulls = np.fromiter((t == NULL for t in texts), dtype=bool, count=len(texts))
        picked[nulls] = default_child  # a NULL key only fits the DEFAULT partition
        readable |= nulls
    picked[~readable] = TO_PARENT
    return picked.astype(np.int64)


def _read_keys(kind: str, texts: list[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any]]:
    """The keys as numbers (epoch seconds for moments), and which ones could be read."""
    try:
        return _read_all(kind, texts), np.ones(len(texts), dtype=bool)
    except ValueError:
        keys = np.full(len(texts), np.nan)
        readable = np.zeros(len(texts), dtype=bool)
        for index, text in enumerate(texts):
            try:
                keys[index] = _read_all(kind, [text])[0]
                readable[index] = True
            except ValueError:
                pass
        return keys, readable


def _read_all(kind: str, texts: list[str]) -> npt.NDArray[np.float64]:
    if kind == "number":
        return np.asarray(texts, dtype=np.float64)
    if kind == "utc_moment" and not all(map(_AT_UTC, texts)):
        raise ValueError("a moment not written at UTC")
    heads = np.asarray([t[:19] for t in texts], dtype="datetime64[s]")
    return heads.astype(np.int64).astype(np.float64)


_AT_UTC = operator.methodcaller("endswith", ("+00", "+00:00", "Z"))


_HEADER = struct.Struct("<q")


def text_rows(rendered: Sequence[list[str]]) -> list[str]:
    """Each row of COPY text (without its newline), from each column's text."""
    return rendered[0] if len(rendered) == 1 else list(map("\t".join, zip(*rendered, strict=True)))


def group_by_leaf(
    rows: list[str], leaves: npt.NDArray[np.int64], *, binary: bool = False
) -> list[tuple[int, bytes]]:
    """A block's rows (COPY text without newlines, or binary COPY rows as latin-1
    characters), one piece per leaf, in leaf order (rows keep their order within a leaf)."""
    if not len(leaves):
        return []

    def encoded(lines: list[str]) -> bytes:
        if binary:
            return "".join(lines).encode("latin-1")
        return ("\n".join(lines) + "\n").encode()

    if leaves[0] == leaves[-1] and (leaves == leaves[0]).all():  # a rising key: one leaf
        return [(int(leaves[0]), encoded(rows))]
    if (leaves[1:] >= leaves[:-1]).all():  # in leaf order already (`_leaf_order`)
        edges: list[int] = np.flatnonzero(np.r_[True, leaves[1:] != leaves[:-1]]).tolist()
        return [
            (int(leaves[start]), encoded(rows[start:end]))
            for start, end in itertools.pairwise([*edges, len(leaves)])
        ]
    order = np.argsort(leaves, kind="stable")
    ordered = leaves[order]
    starts: list[int] = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]).tolist()
    lines = np.asarray(rows, dtype=object)[order]
    return [
        (int(ordered[start]), encoded(lines[start:end].tolist()))
        for start, end in itertools.pairwise([*starts, len(ordered)])
    ]


def encode_routed(rows: list[str], leaves: npt.NDArray[np.int64], *, binary: bool = False) -> bytes:
    """A block's rows grouped by leaf: a count, (leaf, byte length) pairs, then the bytes."""
    groups = group_by_leaf(rows, leaves, binary=binary)
    header = [number for leaf, data in groups for number in (leaf, len(data))]
    head = np.asarray([len(groups), *header], dtype="<i8").tobytes()
    return head + b"".join(data for _, data in groups)


def decode_routed(data: bytes) -> Iterator[tuple[int, memoryview]]:
    """(leaf, COPY text) for each group of an encoded block."""
    view = memoryview(data)
    (groups,) = _HEADER.unpack_from(view, 0)
    header = np.frombuffer(view[8 : 8 + 16 * groups], dtype="<i8").reshape(groups, 2)
    offset = 8 + 16 * groups
    for leaf, length in header.tolist():
        yield leaf, view[offset : offset + length]
        offset += length
