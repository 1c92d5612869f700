#!/usr/bin/env python3
"""Test vectors for the log's Merkle tree (ledger/src/tree), computed by an
implementation independent of the Rust one: RFC 6962 section 2.1 written
from the RFC with Python's hashlib. Writes vectors.json beside this file.

    python3 ledger/src/tree/vectors.py
"""
import hashlib
import json
import os


def leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries):
    """MTH(D[n]), RFC 6962 2.1."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return leaf(entries[0])
    k = split(len(entries))
    return node(mth(entries[:k]), mth(entries[k:]))


def path(m, entries):
    """PATH(m, D[n]), RFC 6962 2.1.1: the inclusion proof of entry m."""
    if len(entries) == 1:
        return []
    k = split(len(entries))
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def subproof(m, entries, whole):
    """SUBPROOF(m, D[n], b), RFC 6962 2.1.2."""
    n = len(entries)
    if m == n:
        return [] if whole else [mth(entries)]
    k = split(n)
    if m <= k:
        return subproof(m, entries[:k], whole) + [mth(entries[k:])]
    return subproof(m - k, entries[k:], False) + [mth(entries[:k])]


def proof(m, entries):
    """PROOF(m, D[n]): the consistency proof from size m to len(entries)."""
    return subproof(m, entries, True)


def main():
    # Entries as the ledger would hold them are protobuf SignedEvents; the
    # tree hashes any bytes, so plain ones keep the vectors readable.
    entries = [f"tansiq entry {i}".encode() for i in range(13)]
    vectors = {
        "entries_utf8": [e.decode() for e in entries],
        "roots": {str(n): mth(entries[:n]).hex() for n in range(0, len(entries) + 1)},
        "inclusion": [
            {"index": m, "size": n, "proof": [h.hex() for h in path(m, entries[:n])]}
            for (m, n) in [(0, 1), (2, 7), (6, 7), (5, 13), (12, 13)]
        ],
        "consistency": [
            {"old": m, "new": n, "proof": [h.hex() for h in proof(m, entries[:n])]}
            for (m, n) in [(1, 2), (3, 7), (4, 8), (6, 13), (13, 13)]
        ],
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(out, "w") as f:
        json.dump(vectors, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
