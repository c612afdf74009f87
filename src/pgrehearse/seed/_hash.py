"""PostgreSQL's hash partitioning of integer keys, computed in numpy.

A row belongs to the hash partition whose (modulus, remainder) takes
`hash_combine64(0, hashintNextended(key, HASH_PARTITION_SEED)) % modulus`. The integer hash
functions are Bob Jenkins' lookup3 `hash_uint32_extended` (src/common/hashfn.c) over the
key's 32 bits (bigint folds its two halves first). Tests compare every step with the
server's own `hashint8extended` and `hashint4extended`.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

HASH_PARTITION_SEED = 0x7A5B22367996DCFD
_COMBINE = np.uint64(0x49A0F4DD15E5A5E3)  # hash_combine64's constant
_GOLDEN = (0x9E3779B9 + 4 + 3923095) & 0xFFFFFFFF  # lookup3's start for 4 bytes
# the key types whose hash this module computes, and their width in bytes
HASHED_INTEGERS = {"smallint": 2, "integer": 4, "bigint": 8}

U32 = npt.NDArray[np.uint32]


def _rot(x: U32, k: int) -> U32:
    return (x << np.uint32(k)) | (x >> np.uint32(32 - k))


@functools.cache
def _seeded(seed: int) -> tuple[np.uint32, np.uint32, np.uint32]:
    """lookup3's state after mixing in the seed: the same for every key."""
    with np.errstate(over="ignore"):
        a = np.full(1, _GOLDEN, dtype=np.uint32)
        b = a.copy()
        c = a.copy()
        if seed:
            a += np.uint32((seed >> 32) & 0xFFFFFFFF)
            b += np.uint32(seed & 0xFFFFFFFF)
            a -= c
            a ^= _rot(c, 4)
            c += b
            b -= a
            b ^= _rot(a, 6)
            a += c
            c -= b
            c ^= _rot(b, 8)
            b += a
            a -= c
            a ^= _rot(c, 16)
            c += b
            b -= a
            b ^= _rot(a, 19)
            a += c
            c -= b
            c ^= _rot(b, 4)
            b += a
    return a[0], b[0], c[0]


def hash_uint32_extended(keys: U32, seed: int) -> npt.NDArray[np.uint64]:
    """lookup3's hash_uint32_extended of each key, with a 64-bit seed."""
    start_a, start_b, start_c = _seeded(seed)
    with np.errstate(over="ignore"):
        a = keys + start_a
        b = np.full(keys.shape, start_b, dtype=np.uint32)
        c = np.full(keys.shape, start_c, dtype=np.uint32)
        c ^= b
        c -= _rot(b, 14)
        a ^= c
        a -= _rot(c, 11)
        b ^= a
        b -= _rot(a, 25)
        c ^= b
        c -= _rot(b, 16)
        a ^= c
        a -= _rot(c, 4)
        b ^= a
        b -= _rot(a, 14)
        c ^= b
        c -= _rot(b, 24)
    return (b.astype(np.uint64) << np.uint64(32)) | c.astype(np.uint64)


def integer_hash(keys: npt.NDArray[np.int64], width: int, seed: int) -> npt.NDArray[np.uint64]:
    """hashint2extended / hashint4extended / hashint8extended of each key."""
    if width < 8:  # a smallint or integer is hashed as its 32 bits (sign-extended)
        return hash_uint32_extended(keys.astype(np.uint32), seed)
    low = (keys & 0xFFFFFFFF).astype(np.uint32)
    high = ((keys >> 32) & 0xFFFFFFFF).astype(np.uint32)
    folded = np.where(keys >= 0, low ^ high, low ^ ~high).astype(np.uint32)
    return hash_uint32_extended(folded, seed)


def partition_hash(keys: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint64]:
    """The value a one-column hash partitioning takes modulo each partition's modulus."""
    with np.errstate(over="ignore"):
        return integer_hash(keys, width, HASH_PARTITION_SEED) + _COMBINE
