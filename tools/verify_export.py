#!/usr/bin/env python3
"""Independent verifier for careledger exports (docs/FORMAT.md, format version 1).

Written from docs/FORMAT.md alone, without careledger's source, so that it checks
both the ledger and the document.  Needs Python 3.11, `blake3` and `cryptography`.

    python3 tools/verify_export.py --export FILE --checkpoint FILE --key KEYSTRING \
        [--inclusion FILE ...] [--consistency FILE ...] [--show-raw SEQ=BASE64 ...]

    python3 tools/verify_export.py --checkpoint FILE --key KEYSTRING \
        --inclusion FILE [--envelope FILE]

    python3 tools/verify_export.py --self-test [--vectors DIR]

Without --export (the second form, for one event an auditor downloaded from the
pages): the checkpoint's signature, then each inclusion proof against the
checkpoint's own root (its tree_size must be the checkpoint's), and with
--envelope, that the proof's leaf hash is BLAKE3(0x00 || the envelope's bytes)
(FORMAT.md 2), so the envelope is the one the signed tree holds.

Exit status: 0 verified, 1 verification failed (one line on stderr naming what
failed), 2 bad command line.

What is checked (FORMAT.md section 6):
  1. the verifier key string (3.3) parses and its key id matches name and key;
  2. the checkpoint (3.2) has a line for that key whose Ed25519 signature verifies,
     and its body (3.1) parses, with origin = key name;
  3. every export record (5) decodes strictly (1.1), seq = record index,
     recorded_at never decreases, present payloads match their commitment (1.3);
  4. the Merkle root (2, RFC 9162 shape, BLAKE3) over the first `size` leaves
     equals the checkpoint's root (and the root over all records is reported);
  5. every inclusion proof (2.1, 4.4) and consistency proof (2.2, 4.5) verifies
     against roots computed here from the export, with the leaf hash and the
     roots printed in the proof equal to the ones computed here;
  6. every --show-raw envelope (4.3) equals the stored envelope bytes.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import mmap
import os
import re
import struct
import sys
import time

try:
    import blake3 as _blake3_mod
except ImportError:  # pragma: no cover
    sys.stderr.write("verify_export: FAIL: the Python package 'blake3' is required\n")
    sys.exit(1)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_b3 = _blake3_mod.blake3

# ---------------------------------------------------------------------------
# Constants from FORMAT.md
# ---------------------------------------------------------------------------

EXPORT_MAGIC = b"careledger-export 1\n"          # section 5, 20 bytes
ENVELOPE_VERSION = 1                              # 1.1 field 1
MAX_ACTOR = 200                                   # 1.1 limits
MAX_SUBJECT = 200
MAX_KIND = 100
MAX_ENVELOPE = 2048
MAX_PAYLOAD = 65536                               # 1.2
HASH_LEN = 32
EMPTY_ROOT_HEX = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"  # 2
SIG_TYPE_ED25519 = 0x01                           # 3.2
EM_DASH_PREFIX = "\u2014 "                        # 3.2, bytes e2 80 94 20
U64_MAX = (1 << 64) - 1

# Unicode category Cc is exactly U+0000..U+001F and U+007F..U+009F.  On bytes that
# are already known to be valid UTF-8, U+0080..U+009F are the two-byte sequences
# C2 80..C2 9F (0xC2 can only be a lead byte in valid UTF-8).
_CC_IN_UTF8 = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]")
_CC_IN_STR = re.compile("[\x00-\x1f\x7f-\x9f]")


class VerifyError(Exception):
    """A verification failure; the message is the single line printed."""


def fail(msg: str) -> None:
    raise VerifyError(msg)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def b64decode_strict(s, what: str, length: int | None = None) -> bytes:
    """Standard base64 with padding (RFC 4648 section 4), canonical form only."""
    if not isinstance(s, str):
        fail(f"{what}: expected a base64 string, got {type(s).__name__}")
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        fail(f"{what}: not valid base64: {s[:60]!r}")
    if base64.b64encode(raw).decode("ascii") != s:
        fail(f"{what}: not canonical base64: {s[:60]!r}")
    if length is not None and len(raw) != length:
        fail(f"{what}: expected {length} bytes, base64 decodes to {len(raw)}")
    return raw


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def blake3_node(left: bytes, right: bytes) -> bytes:
    return _b3(b"\x01" + left + right).digest()


def blake3_leaf(data: bytes) -> bytes:
    return _b3(b"\x00" + data).digest()


def sha256_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def sha256_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


# ---------------------------------------------------------------------------
# Merkle tree (RFC 9162 section 2.1), parametrised by the node hash
# ---------------------------------------------------------------------------

def fold_compact_range(stack, node, empty_root: bytes) -> bytes:
    """Root of a tree from the stack of perfect-subtree hashes (largest first)
    that an append-only scan keeps: merge from the right."""
    if not stack:
        return empty_root
    r = stack[-1]
    for h in reversed(stack[:-1]):
        r = node(h, r)
    return r


def mth(leaf_hashes, node, empty_root: bytes) -> bytes:
    """MTH over a list of leaf hashes, straight from the RFC recursion (tests only)."""
    n = len(leaf_hashes)
    if n == 0:
        return empty_root
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaf_hashes[:k], node, empty_root), mth(leaf_hashes[k:], node, empty_root))


def rfc_path(m, leaf_hashes, node):
    """PATH(m, D[0:n]) of RFC 9162 2.1.3.1 (used by the self-test to make proofs)."""
    n = len(leaf_hashes)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return rfc_path(m, leaf_hashes[:k], node) + [mth(leaf_hashes[k:], node, b"")]
    return rfc_path(m - k, leaf_hashes[k:], node) + [mth(leaf_hashes[:k], node, b"")]


def rfc_proof(m, leaf_hashes, node):
    """PROOF(m, D[0:n]) of RFC 9162 2.1.4.1 (used by the self-test)."""
    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d, node, b"")]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:], node, b"")]
        return subproof(m - k, d[k:], False) + [mth(d[:k], node, b"")]
    return subproof(m, leaf_hashes, True)


def _check_path_elems(proof, hash_len: int, what: str):
    if proof is None:
        return []
    if not isinstance(proof, list):
        fail(f"{what}: proof is not a list")
    for j, p in enumerate(proof):
        if not isinstance(p, (bytes, bytearray)) or len(p) != hash_len:
            fail(f"{what}: proof element {j} is not a {hash_len}-byte hash")
    return proof


def verify_inclusion(node, leaf_index: int, tree_size: int, leaf_hash: bytes,
                     proof, root: bytes, hash_len: int = HASH_LEN,
                     what: str = "inclusion proof") -> None:
    """RFC 9162 section 2.1.3.2.  Raises VerifyError on failure."""
    proof = _check_path_elems(proof, hash_len, what)
    if len(leaf_hash) != hash_len:
        fail(f"{what}: leaf hash is not {hash_len} bytes")
    # 1. leaf_index must be inside the tree.
    if not (0 <= leaf_index < tree_size):
        fail(f"{what}: leaf index {leaf_index} is not below tree size {tree_size}")
    # 2.
    fn = leaf_index
    sn = tree_size - 1
    # 3.
    r = leaf_hash
    # 4.
    for p in proof:
        if sn == 0:                                   # 4a
            fail(f"{what}: proof has more hashes than the path of leaf {leaf_index} "
                 f"in a tree of {tree_size}")
        if (fn & 1) or fn == sn:                      # 4b
            r = node(p, r)
            if not (fn & 1):
                while not (fn & 1) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1                                      # 4c
        sn >>= 1
    # 5.
    if sn != 0:
        fail(f"{what}: proof has fewer hashes than the path of leaf {leaf_index} "
             f"in a tree of {tree_size}")
    if r != root:
        fail(f"{what}: proof does not lead to the root of the tree of {tree_size}")


def verify_consistency(node, size1: int, size2: int, root1: bytes, root2: bytes,
                       proof, hash_len: int = HASH_LEN,
                       what: str = "consistency proof") -> None:
    """RFC 9162 section 2.1.4.2, plus FORMAT.md 2.2's rules: size1 = 0 and
    size1 > size2 are refused; size1 = size2 needs an empty proof and equal roots."""
    proof = _check_path_elems(proof, hash_len, what)
    if size1 <= 0:
        fail(f"{what}: size1 = {size1}; a proof from the empty tree proves nothing")
    if size1 > size2:
        fail(f"{what}: size1 {size1} is greater than size2 {size2}")
    if size1 == size2:
        if proof:
            fail(f"{what}: sizes are equal but the proof is not empty")
        if root1 != root2:
            fail(f"{what}: sizes are equal but the roots differ")
        return
    # 1.
    if not proof:
        fail(f"{what}: empty proof for size1 {size1} < size2 {size2}")
    path = list(proof)
    # 2. first an exact power of two: prepend first_hash.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3.
    fn = size1 - 1
    sn = size2 - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:                                   # 6a
            fail(f"{what}: proof is longer than PROOF({size1}, D[0:{size2}])")
        if (fn & 1) or fn == sn:                      # 6b
            fr = node(c, fr)
            sr = node(c, sr)
            if not (fn & 1):
                while not (fn & 1) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1                                      # 6c
        sn >>= 1
    # 7.
    if sn != 0:
        fail(f"{what}: proof is shorter than PROOF({size1}, D[0:{size2}])")
    if fr != root1:
        fail(f"{what}: proof does not lead to the root of the tree of {size1}")
    if sr != root2:
        fail(f"{what}: proof does not lead to the root of the tree of {size2}")


# ---------------------------------------------------------------------------
# Keys and signed notes (sections 3.2, 3.3)
# ---------------------------------------------------------------------------

def key_id(name: str, pubkey: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([SIG_TYPE_ED25519]) + pubkey).digest()[:4]


def _check_key_name(name: str, what: str) -> None:
    if not name:
        fail(f"{what}: key name is empty")
    if " " in name or "+" in name or _CC_IN_STR.search(name):
        fail(f"{what}: key name {name!r} contains a space, '+' or a control character")


def parse_verifier_key(s: str):
    """<name>+<8 lowercase hex key id>+<base64(0x01 || 32-byte public key)>  (3.3)"""
    what = "key"
    s = s.strip()
    parts = s.split("+", 2)          # the base64 part may itself contain '+'
    if len(parts) != 3:
        fail(f"{what}: expected <name>+<key id hex>+<base64 key>")
    name, hex_id, key64 = parts
    _check_key_name(name, what)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        fail(f"{what}: key id {hex_id!r} is not 8 lowercase hex digits")
    raw = b64decode_strict(key64, f"{what}: public key", 33)
    if raw[0] != SIG_TYPE_ED25519:
        fail(f"{what}: signature type byte is 0x{raw[0]:02x}, expected 0x01 (Ed25519)")
    pub = raw[1:]
    kid = key_id(name, pub)
    if kid.hex() != hex_id:
        fail(f"{what}: key id {hex_id} does not match name and key (computed {kid.hex()})")
    try:
        vk = Ed25519PublicKey.from_public_bytes(pub)
    except ValueError:
        fail(f"{what}: not a valid Ed25519 public key")
    return name, kid, pub, vk


def open_signed_note(note: bytes, name: str, kid: bytes, vk) -> bytes:
    """Returns the verified note text (3.2)."""
    what = "checkpoint"
    try:
        note_s = note.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{what}: not valid UTF-8")
    if not note.endswith(b"\n"):
        fail(f"{what}: does not end in a newline")
    cut = note.rfind(b"\n\n")
    if cut < 0:
        fail(f"{what}: no empty line between the text and the signatures")
    text = note[:cut + 1]
    sigblock = note[cut + 2:]
    if not sigblock:
        fail(f"{what}: no signature lines")
    lines = sigblock.decode("utf-8").split("\n")
    assert lines[-1] == ""
    found = False
    for ln in lines[:-1]:
        if not ln.startswith(EM_DASH_PREFIX):
            fail(f"{what}: signature line does not start with an em dash and a space: {ln[:60]!r}")
        rest = ln[len(EM_DASH_PREFIX):]
        fields = rest.split(" ")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            fail(f"{what}: malformed signature line: {ln[:60]!r}")
        sname, blob64 = fields
        blob = b64decode_strict(blob64, f"{what}: signature of {sname}")
        if len(blob) < 5:
            fail(f"{what}: signature blob of {sname} is too short")
        if sname != name or blob[:4] != kid:
            continue     # another key (e.g. a witness cosignature): ignore
        if len(blob) != 4 + 64:
            fail(f"{what}: signature for {name} is {len(blob) - 4} bytes, expected 64")
        try:
            vk.verify(blob[4:], text)
        except InvalidSignature:
            fail(f"{what}: Ed25519 signature for key {name}+{kid.hex()} does not verify")
        found = True
    if not found:
        fail(f"{what}: no signature line for key {name}+{kid.hex()}")
    return text


def parse_checkpoint_body(text: bytes):
    """<origin>\\n<size>\\n<base64 root>\\n[extension lines]  (3.1)"""
    what = "checkpoint body"
    lines = text.decode("utf-8").split("\n")
    if lines[-1] != "" or len(lines) < 4:
        fail(f"{what}: expected origin, size and root lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    for ext in lines[3:-1]:
        if not ext:
            fail(f"{what}: empty extension line")
    if not origin:
        fail(f"{what}: empty origin")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s):
        fail(f"{what}: tree size {size_s!r} is not a decimal number without leading zeros")
    size = int(size_s)
    if size > U64_MAX:
        fail(f"{what}: tree size {size_s} does not fit in 64 bits")
    root = b64decode_strict(root_s, f"{what}: root", HASH_LEN)
    return origin, size, root, lines[3:-1]


# ---------------------------------------------------------------------------
# Envelopes (1.1)
# ---------------------------------------------------------------------------

_U64 = struct.Struct("<Q")
_HDR = struct.Struct("<BQqqQ")        # version, seq, recorded_at, occurred_at, actor length
_U32 = struct.Struct("<I")


def _check_string(env: bytes, p: int, name: str, limit: int, ev: str):
    if p + 8 > len(env):
        fail(f"{ev}: envelope too short for the {name} length")
    (ln,) = _U64.unpack_from(env, p)
    if ln == 0:
        fail(f"{ev}: {name} is empty")
    if ln > limit:
        fail(f"{ev}: {name} length {ln} is over the limit of {limit} bytes")
    p += 8
    if p + ln > len(env):
        fail(f"{ev}: envelope too short for the {name} ({ln} bytes)")
    raw = env[p:p + ln]
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{ev}: {name} is not valid UTF-8")
    if _CC_IN_STR.search(s):
        fail(f"{ev}: {name} contains a control character")
    return s, p + ln


def decode_envelope(env: bytes, ev: str = "envelope") -> dict:
    """Strict, explanatory decoder (1.1).  The scan uses an inlined fast path and
    calls this one only to explain a failure; the self-test uses it directly."""
    if len(env) > MAX_ENVELOPE:
        fail(f"{ev}: envelope is {len(env)} bytes, over the limit of {MAX_ENVELOPE}")
    if len(env) < 1:
        fail(f"{ev}: envelope is empty")
    if env[0] != ENVELOPE_VERSION:
        fail(f"{ev}: envelope version byte is 0x{env[0]:02x}, expected 0x01")
    if len(env) < 25:
        fail(f"{ev}: envelope too short for seq and times")
    _, seq, rec, occ = struct.unpack_from("<BQqq", env, 0)
    actor, p = _check_string(env, 25, "actor", MAX_ACTOR, ev)
    if p >= len(env):
        fail(f"{ev}: envelope too short for the subject tag")
    tag = env[p]
    p += 1
    if tag == 0:
        subject = None
    elif tag == 1:
        subject, p = _check_string(env, p, "subject", MAX_SUBJECT, ev)
    else:
        fail(f"{ev}: subject option tag is 0x{tag:02x}, expected 0x00 or 0x01")
    kind, p = _check_string(env, p, "kind", MAX_KIND, ev)
    if p + HASH_LEN > len(env):
        fail(f"{ev}: envelope too short for the payload commitment")
    commitment = env[p:p + HASH_LEN]
    p += HASH_LEN
    if p != len(env):
        fail(f"{ev}: {len(env) - p} trailing bytes after the payload commitment")
    return {"seq": seq, "recorded_at_us": rec, "occurred_at_us": occ, "actor": actor,
            "subject": subject, "kind": kind, "payload_commitment": commitment}


def encode_envelope(seq, rec, occ, actor, subject, kind, commitment) -> bytes:
    """Encoder per 1.1 (self-test and sample generation only)."""
    def s(x):
        b = x.encode("utf-8")
        return _U64.pack(len(b)) + b
    out = bytes([ENVELOPE_VERSION]) + struct.pack("<Qqq", seq, rec, occ) + s(actor)
    out += b"\x00" if subject is None else b"\x01" + s(subject)
    return out + s(kind) + commitment


# ---------------------------------------------------------------------------
# The export scan (5, 6.3, 6.4)
# ---------------------------------------------------------------------------

class ScanResult:
    __slots__ = ("count", "erased", "leaves", "roots", "raw_checked")


def scan_export(buf, stop_sizes, raw_expect, node=blake3_node, allow_erased=False):
    """One pass over the export: strict decoding, seq/time/commitment checks, leaf
    hashes (kept in one bytearray) and a compact-range stack for the root.
    stop_sizes: tree sizes whose roots are wanted (snapshotted during the pass).
    raw_expect: {seq: bytes} that must equal the stored envelope of that seq."""
    n = len(buf)
    if n < len(EXPORT_MAGIC) or buf[:len(EXPORT_MAGIC)] != EXPORT_MAGIC:
        fail("export: does not start with the header 'careledger-export 1\\n'")

    # Index -> action: size i+1 wanted (root snapshot) and/or raw compare of seq i.
    stops = {}
    for sz in stop_sizes:
        if sz >= 1:
            stops.setdefault(sz - 1, set()).add("root")
    for sq in raw_expect:
        stops.setdefault(sq, set()).add("raw")
    stop_list = sorted(stops)
    stop_pos = 0
    next_stop = stop_list[0] if stop_list else -1

    roots = {0: _b3(b"").digest()}
    raw_checked = 0

    unpack_u32 = _U32.unpack_from
    unpack_hdr = _HDR.unpack_from
    unpack_u64 = _U64.unpack_from
    b3 = _b3
    cc_search = _CC_IN_UTF8.search
    leaves = bytearray()
    leaves_extend = leaves.extend
    stack = []
    push = stack.append
    pop = stack.pop

    pos = len(EXPORT_MAGIC)
    i = 0
    erased = 0
    prev_rec_v = -(1 << 63)

    while pos < n:
        # ---- record framing (5) ----
        if pos + 4 > n:
            fail(f"event {i}: export truncated in the envelope length")
        (L,) = unpack_u32(buf, pos)
        pos += 4
        if L > MAX_ENVELOPE:
            fail(f"event {i}: envelope length {L} is over the limit of {MAX_ENVELOPE} bytes")
        end = pos + L
        if end + 1 > n:
            fail(f"event {i}: export truncated in the envelope ({L} bytes declared)")
        # L <= 2048, so the byte before the envelope (the top byte of the u32
        # length) is 0x00: ls = 0x00 || envelope is exactly the leaf-hash input.
        ls = buf[pos - 1:end]
        present = buf[end]
        pos = end + 1

        # ---- envelope (1.1), fast path on ls (offset +1); any doubt -> slow,
        # explanatory decoder ----
        ok = False
        try:
            ver, seq, rec, occ, alen = unpack_hdr(ls, 1)
            if ver == 1 and 1 <= alen <= MAX_ACTOR:
                p = 34 + alen
                tag = ls[p]
                actor = ls[34:p]
                if tag == 0:
                    subj = b""
                    p += 1
                    sok = True
                elif tag == 1:
                    (slen,) = unpack_u64(ls, p + 1)
                    sok = 1 <= slen <= MAX_SUBJECT
                    subj = ls[p + 9:p + 9 + slen]
                    p += 9 + slen
                else:
                    sok = False
                if sok:
                    (klen,) = unpack_u64(ls, p)
                    p += 8
                    if 1 <= klen <= MAX_KIND and p + klen + 32 == L + 1:
                        commitment = ls[p + klen:]
                        kind = ls[p:p + klen]
                        strs = actor + subj + kind
                        if not strs.isascii():
                            # each piece must be valid UTF-8 on its own; then the
                            # byte regex on the concatenation finds any Cc.
                            actor.decode("utf-8")
                            subj.decode("utf-8")
                            kind.decode("utf-8")
                        ok = cc_search(strs) is None
        except (struct.error, IndexError, UnicodeDecodeError):
            ok = False
        if not ok:
            d = decode_envelope(ls[1:], f"event {i}")
            seq, rec = d["seq"], d["recorded_at_us"]
            commitment = d["payload_commitment"]

        # ---- seq and recorded_at (6.3) ----
        if seq != i:
            fail(f"event {i}: envelope seq is {seq}, expected {i}")
        if rec < prev_rec_v:
            fail(f"event {i}: recorded_at_us {rec} is below event {i - 1}'s {prev_rec_v}")
        prev_rec_v = rec

        # ---- payload (5, 1.3) ----
        if present == 1:
            if pos + 36 > n:
                fail(f"event {i}: export truncated in the salt / payload length")
            salt = buf[pos:pos + 32]
            (P,) = unpack_u32(buf, pos + 32)
            if P > MAX_PAYLOAD:
                fail(f"event {i}: payload length {P} is over the limit of {MAX_PAYLOAD} bytes")
            pstart = pos + 36
            pos = pstart + P
            if pos > n:
                fail(f"event {i}: export truncated in the payload ({P} bytes declared)")
            if b3(salt + buf[pstart:pos]).digest() != commitment:
                fail(f"event {i}: payload does not match its commitment")
        elif present == 0:
            # FORMAT.md 5: an erased payload is valid only where an erasure event
            # authorises it; careledger has none yet, so by default it is a failure.
            if not allow_erased:
                fail(f"event {i}: its payload is erased, and no erasure event authorises "
                     f"that (--allow-erased accepts erased payloads)")
            erased += 1
        else:
            fail(f"event {i}: payload presence byte is {present}, expected 0 or 1")

        # ---- leaf hash and compact range (2) ----
        h = b3(ls).digest()
        leaves_extend(h)
        k = i
        while k & 1:
            h = node(pop(), h)
            k >>= 1
        push(h)

        if i == next_stop:
            acts = stops[i]
            if "root" in acts:
                roots[i + 1] = fold_compact_range(stack, node, roots[0])
            if "raw" in acts:
                if raw_expect[i] != ls[1:]:
                    fail(f"event {i}: --show-raw bytes differ from the envelope in the export")
                raw_checked += 1
            stop_pos += 1
            next_stop = stop_list[stop_pos] if stop_pos < len(stop_list) else -1
        i += 1

    res = ScanResult()
    res.count = i
    res.erased = erased
    res.leaves = leaves
    res.roots = roots
    res.roots[i] = fold_compact_range(stack, node, roots[0])
    res.raw_checked = raw_checked
    return res


# ---------------------------------------------------------------------------
# Proof files (4.4, 4.5)
# ---------------------------------------------------------------------------

def _no_dup_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def load_json_line(path: str, what: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"{what}: cannot read {path}: {e.strerror}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{what}: {path} is not UTF-8")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) != 1:
        fail(f"{what}: {path} should hold exactly one JSON line, found {len(lines)}")
    try:
        obj = json.loads(lines[0], object_pairs_hook=_no_dup_keys)
    except ValueError as e:
        fail(f"{what}: {path} is not valid JSON: {e}")
    if not isinstance(obj, dict):
        fail(f"{what}: {path} is not a JSON object")
    return obj


def _get_uint(obj, key, what):
    v = obj.get(key)
    if type(v) is not int or v < 0 or v > U64_MAX:
        fail(f"{what}: field {key!r} missing or not an unsigned integer")
    return v


def _get_hashes(obj, key, what):
    v = obj.get(key)
    if not isinstance(v, list):
        fail(f"{what}: field {key!r} missing or not a list")
    return [b64decode_strict(x, f"{what}: {key}[{j}]", HASH_LEN) for j, x in enumerate(v)]


def parse_inclusion(path):
    what = f"inclusion proof {path}"
    o = load_json_line(path, what)
    idx = _get_uint(o, "leaf_index", what)
    size = _get_uint(o, "tree_size", what)
    if "leaf_hash" not in o:
        fail(f"{what}: field 'leaf_hash' missing")
    lh = b64decode_strict(o["leaf_hash"], f"{what}: leaf_hash", HASH_LEN)
    proof = _get_hashes(o, "proof", what)
    return {"path": path, "leaf_index": idx, "tree_size": size, "leaf_hash": lh, "proof": proof}


def parse_consistency(path):
    what = f"consistency proof {path}"
    o = load_json_line(path, what)
    s1 = _get_uint(o, "size1", what)
    s2 = _get_uint(o, "size2", what)
    for k in ("root1", "root2"):
        if k not in o:
            fail(f"{what}: field {k!r} missing")
    r1 = b64decode_strict(o["root1"], f"{what}: root1", HASH_LEN)
    r2 = b64decode_strict(o["root2"], f"{what}: root2", HASH_LEN)
    proof = _get_hashes(o, "proof", what)
    return {"path": path, "size1": s1, "size2": s2, "root1": r1, "root2": r2, "proof": proof}


def parse_show_raw(arg: str):
    m = re.fullmatch(r"(0|[1-9][0-9]*)=(.*)", arg.strip(), re.S)
    if not m:
        fail(f"--show-raw {arg[:40]!r}: expected SEQ=BASE64")
    seq = int(m.group(1))
    raw = b64decode_strict(m.group(2).strip(), f"--show-raw {seq}")
    return seq, raw


# ---------------------------------------------------------------------------
# Main verification (6)
# ---------------------------------------------------------------------------

def open_export(path):
    """Returns a bytes-like object over the whole file (mmap when possible)."""
    try:
        f = open(path, "rb")
    except OSError as e:
        fail(f"export: cannot open {path}: {e.strerror}")
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > 0:
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            pass
        chunks = []
        while True:
            c = f.read(1 << 24)
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)


def _locate_hint(cons, roots, cp_size) -> str:
    """When the checkpoint root differs, use the (unsigned) roots printed in the
    consistency proofs to narrow down where the export departs from the ledger."""
    good, bad = 0, cp_size
    for c in cons:
        for sz, claimed in ((c["size1"], c["root1"]), (c["size2"], c["root2"])):
            if sz in roots and 0 < sz <= cp_size:
                if roots[sz] == claimed:
                    good = max(good, sz)
                else:
                    bad = min(bad, sz)
    if good == 0 and bad == cp_size:
        return ""
    if good < bad:
        return f" (the proofs' roots place the difference in events {good}..{bad - 1})"
    return ""


def load_checkpoint(checkpoint_path, key_string):
    """The (size, root) of the checkpoint in the file, once its signature by the key
    verifies and its origin is the key's name (FORMAT.md 3)."""
    name, kid, pub, vk = parse_verifier_key(key_string)
    try:
        with open(checkpoint_path, "rb") as f:
            note = f.read()
    except OSError as e:
        fail(f"checkpoint: cannot read {checkpoint_path}: {e.strerror}")
    text = open_signed_note(note, name, kid, vk)
    origin, cp_size, cp_root, _ext = parse_checkpoint_body(text)
    if origin != name:
        fail(f"checkpoint: origin {origin!r} is not the key name {name!r}")
    return origin, cp_size, cp_root


def verify_proofs(checkpoint_path, key_string, inclusion_paths, envelope_paths=(),
                  out=sys.stdout):
    """Inclusion proofs checked against a signed checkpoint alone (no export)."""
    origin, cp_size, cp_root = load_checkpoint(checkpoint_path, key_string)
    if not inclusion_paths:
        fail("without --export, give at least one --inclusion proof")
    incl = [parse_inclusion(p) for p in inclusion_paths]
    if len(envelope_paths) > len(incl):
        fail("--envelope: give one envelope per --inclusion, in the same order")
    for j, p in enumerate(incl):
        what = f"inclusion proof {p['path']}"
        if p["tree_size"] != cp_size:
            fail(f"{what}: tree_size {p['tree_size']} is not the checkpoint's size {cp_size}")
        if j < len(envelope_paths):
            try:
                with open(envelope_paths[j], "rb") as f:
                    env = f.read()
            except OSError as e:
                fail(f"envelope: cannot read {envelope_paths[j]}: {e.strerror}")
            if blake3_leaf(env) != p["leaf_hash"]:
                fail(f"{what}: the envelope {envelope_paths[j]} does not hash to the proof's leaf")
        verify_inclusion(blake3_node, p["leaf_index"], p["tree_size"], p["leaf_hash"],
                         p["proof"], cp_root, HASH_LEN, what)
        print(f"OK: event {p['leaf_index']} is in the tree of {cp_size} events whose root "
              f"the checkpoint signs", file=out)


def verify(export_path, checkpoint_path, key_string, inclusion_paths=(),
           consistency_paths=(), show_raw_args=(), out=sys.stdout, allow_erased=False):
    t0 = time.monotonic()
    # 1. key, 2. checkpoint
    origin, cp_size, cp_root = load_checkpoint(checkpoint_path, key_string)

    incl = [parse_inclusion(p) for p in inclusion_paths]
    cons = [parse_consistency(p) for p in consistency_paths]
    raws = {}
    for a in show_raw_args:
        seq, raw = parse_show_raw(a)
        if seq in raws and raws[seq] != raw:
            fail(f"--show-raw {seq}: given twice with different bytes")
        raws[seq] = raw

    wanted = {cp_size}
    for p in incl:
        wanted.add(p["tree_size"])
    for c in cons:
        wanted.add(c["size1"])
        wanted.add(c["size2"])

    # 3 + 4. the scan
    buf = open_export(export_path)
    res = scan_export(buf, wanted, raws, allow_erased=allow_erased)
    N = res.count
    for seq in raws:
        if seq >= N:
            fail(f"--show-raw {seq}: the export holds only {N} events")
    if cp_size > N:
        fail(f"checkpoint: tree size {cp_size} is larger than the {N} events in the export")
    # Leaf hashes named by inclusion proofs first: a mismatch there names the
    # tampered event, which the checkpoint root alone cannot.
    leaves = res.leaves
    for p in incl:
        what = f"inclusion proof {p['path']}"
        idx, size = p["leaf_index"], p["tree_size"]
        if size > N:
            fail(f"{what}: tree_size {size} is larger than the {N} events in the export")
        if idx >= size:
            fail(f"{what}: leaf_index {idx} is not below tree_size {size}")
        mine = bytes(leaves[32 * idx:32 * idx + 32])
        if p["leaf_hash"] != mine:
            fail(f"{what}: leaf_hash of event {idx} is {b64(p['leaf_hash'])}, "
                 f"the export gives {b64(mine)}")
    computed = res.roots[cp_size]
    if computed != cp_root:
        fail(f"checkpoint: root {b64(cp_root)} does not match the root {b64(computed)} "
             f"computed from the first {cp_size} events of the export"
             + _locate_hint(cons, res.roots, cp_size))

    # 5. proofs
    for p in incl:
        what = f"inclusion proof {p['path']}"
        idx, size = p["leaf_index"], p["tree_size"]
        mine = bytes(leaves[32 * idx:32 * idx + 32])
        root = res.roots[size]
        if size == cp_size and root != cp_root:   # cannot happen after step 4
            fail(f"{what}: checkpoint root mismatch")
        verify_inclusion(blake3_node, idx, size, mine, p["proof"], root, HASH_LEN, what)
    for c in cons:
        what = f"consistency proof {c['path']}"
        s1, s2 = c["size1"], c["size2"]
        if s1 == 0:
            fail(f"{what}: size1 = 0; a proof from the empty tree proves nothing")
        if s1 > s2:
            fail(f"{what}: size1 {s1} is greater than size2 {s2}")
        if s2 > N:
            fail(f"{what}: size2 {s2} is larger than the {N} events in the export")
        r1, r2 = res.roots[s1], res.roots[s2]
        if c["root1"] != r1:
            fail(f"{what}: root1 {b64(c['root1'])} is not the root {b64(r1)} of the first "
                 f"{s1} events of the export")
        if c["root2"] != r2:
            fail(f"{what}: root2 {b64(c['root2'])} is not the root {b64(r2)} of the first "
                 f"{s2} events of the export")
        verify_consistency(blake3_node, s1, s2, r1, r2, c["proof"], HASH_LEN, what)

    dt = time.monotonic() - t0
    msg = (f"OK: {N} events verified ({res.erased} payloads erased); checkpoint "
           f"{origin} size {cp_size} root {b64(cp_root)} matches")
    if N != cp_size:
        msg += f"; root over all {N} events {b64(res.roots[N])}"
    msg += (f"; {len(incl)} inclusion and {len(cons)} consistency proofs checked; "
            f"{res.raw_checked} raw envelopes matched; {dt:.2f}s")
    print(msg, file=out)
    return res


# ---------------------------------------------------------------------------
# Self-test and sample generation
# ---------------------------------------------------------------------------

def make_note(origin: str, size: int, root: bytes, sk, extra_sigs=()) -> bytes:
    """Signed checkpoint per 3.1/3.2 with key name = origin."""
    from cryptography.hazmat.primitives import serialization
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    text = f"{origin}\n{size}\n{b64(root)}\n".encode()
    lines = list(extra_sigs)
    lines.append(f"\u2014 {origin} {b64(key_id(origin, pub) + sk.sign(text))}\n")
    return text + b"\n" + "".join(lines).encode("utf-8")


def make_key_string(origin: str, sk) -> str:
    from cryptography.hazmat.primitives import serialization
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{origin}+{key_id(origin, pub).hex()}+{b64(bytes([1]) + pub)}"


def write_sample(out_dir: str, n_events: int, origin: str = "care.example/ledger",
                 erase_every: int = 0, seed: int = 1):
    """Writes export.bin, checkpoint.txt, key.txt built from FORMAT.md alone."""
    import random
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    rnd = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    sk = Ed25519PrivateKey.generate()
    stack = []
    base = 1_764_000_000_000_000
    with open(os.path.join(out_dir, "export.bin"), "wb") as f:
        f.write(EXPORT_MAGIC)
        chunk = []
        for i in range(n_events):
            payload = json.dumps({"note": "visit " * (i % 40), "n": i, "ok": True},
                                 separators=(",", ":")).encode()
            salt = rnd.randbytes(32)
            com = _b3(salt + payload).digest()
            env = encode_envelope(i, base + i * 7, base - 3600_000_000 + i, f"staff:s{i % 97:04d}",
                                  None if i % 5 == 0 else f"person:p{i % 1013:05d}",
                                  "visit.completed" if i % 2 else "visit.started", com)
            rec = _U32.pack(len(env)) + env
            if erase_every and i % erase_every == erase_every - 1:
                rec += b"\x00"
            else:
                rec += b"\x01" + salt + _U32.pack(len(payload)) + payload
            chunk.append(rec)
            h = blake3_leaf(env)
            k = i
            while k & 1:
                h = blake3_node(stack.pop(), h)
                k >>= 1
            stack.append(h)
            if len(chunk) >= 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    root = fold_compact_range(stack, blake3_node, _b3(b"").digest())
    with open(os.path.join(out_dir, "checkpoint.txt"), "wb") as f:
        f.write(make_note(origin, n_events, root, sk))
    with open(os.path.join(out_dir, "key.txt"), "w") as f:
        f.write(make_key_string(origin, sk) + "\n")
    return sk, root


def run_vectors(vec_dir: str):
    """RFC 6962 (SHA-256) vectors: every file under inclusion/ and consistency/."""
    passed = failed = 0
    failures = []
    for kind in ("inclusion", "consistency"):
        top = os.path.join(vec_dir, kind)
        files = []
        for dp, _dn, fn in os.walk(top):
            files += [os.path.join(dp, x) for x in fn if x.endswith(".json")]
        for path in sorted(files):
            with open(path) as f:
                v = json.load(f)

            def d(s):
                return base64.b64decode(s) if s else b""
            try:
                err = None
                try:
                    proof = [d(x) for x in (v.get("proof") or [])]
                    if kind == "inclusion":
                        verify_inclusion(sha256_node, v["leafIdx"], v["treeSize"],
                                         d(v["leafHash"]), proof, d(v["root"]), 32)
                    else:
                        verify_consistency(sha256_node, v["size1"], v["size2"],
                                           d(v["root1"]), d(v["root2"]), proof, 32)
                except VerifyError as e:
                    err = e
                got_err = err is not None
                if got_err == bool(v["wantErr"]):
                    passed += 1
                else:
                    failed += 1
                    failures.append(f"{os.path.relpath(path, vec_dir)}: wantErr={v['wantErr']} "
                                    f"got {'error: ' + str(err) if err else 'success'}")
            except Exception as e:  # noqa: BLE001
                failed += 1
                failures.append(f"{os.path.relpath(path, vec_dir)}: crashed: {e!r}")
    return passed, failed, failures


def self_test(vec_dir: str) -> int:
    import tempfile
    import unicodedata
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    passed = failed = 0
    notes = []

    def check(name, cond, detail=""):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            notes.append(f"FAIL {name} {detail}")

    def expect_fail(name, fn, must_contain=""):
        try:
            fn()
        except VerifyError as e:
            check(name, must_contain in str(e), f"(message {str(e)!r} lacks {must_contain!r})")
            return str(e)
        check(name, False, "(no error)")
        return None

    # -- RFC 6962 vectors with SHA-256 --
    vp, vf, vfail = run_vectors(vec_dir)
    print(f"RFC 6962 vectors ({vec_dir}): {vp} passed, {vf} failed")
    for x in vfail:
        print("  " + x)

    # -- constants and the section 1.1 example --
    check("empty root", _b3(b"").hexdigest() == EMPTY_ROOT_HEX)
    ex = encode_envelope(7, 1700000000000001, 1700000000000000, "staff:s1", "person:p1",
                         "visit.started", b"\x09" * 32)
    want = bytes.fromhex("01" "0700000000000000" "01401e18240a0600" "00401e18240a0600"
                         "0800000000000000") + b"staff:s1" + bytes.fromhex("01" "0900000000000000") \
        + b"person:p1" + bytes.fromhex("0d00000000000000") + b"visit.started" + b"\x09" * 32
    check("1.1 example bytes", ex == want)
    dec = decode_envelope(ex)
    check("1.1 example decodes", dec["seq"] == 7 and dec["subject"] == "person:p1"
          and dec["recorded_at_us"] == 1700000000000001)
    # Cc regexes agree with unicodedata
    cc = {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"}
    check("Cc set", cc == set(range(0x20)) | set(range(0x7f, 0xa0)))
    bad_utf8 = [chr(c).encode() for c in sorted(cc)]
    check("Cc bytes regex", all(_CC_IN_UTF8.search(b"a" + b + b"z") for b in bad_utf8)
          and not _CC_IN_UTF8.search("é\u00a0\u2014ü".encode()))

    # -- Merkle: compact range == RFC recursion, proofs from RFC definitions --
    hs = [blake3_leaf(bytes([i]) * (i + 1)) for i in range(33)]
    ok = True
    for n in range(0, 34):
        st = []
        for i, h in enumerate(hs[:n]):
            k = i
            while k & 1:
                h = blake3_node(st.pop(), h)
                k >>= 1
            st.append(h)
        if fold_compact_range(st, blake3_node, _b3(b"").digest()) != mth(hs[:n], blake3_node, _b3(b"").digest()):
            ok = False
    check("compact range == MTH", ok)
    ok = True
    for n in range(1, 34):
        root = mth(hs[:n], blake3_node, b"")
        for m in range(n):
            try:
                verify_inclusion(blake3_node, m, n, hs[m], rfc_path(m, hs[:n], blake3_node), root)
            except VerifyError:
                ok = False
        for m in range(1, n + 1):
            try:
                verify_consistency(blake3_node, m, n, mth(hs[:m], blake3_node, b""), root,
                                   rfc_proof(m, hs[:n], blake3_node))
            except VerifyError:
                ok = False
    check("all RFC-built proofs verify (n <= 33)", ok)

    # -- a tiny export built from FORMAT.md, then tampered --
    with tempfile.TemporaryDirectory() as td:
        sk, root = write_sample(td, 23, erase_every=7)
        exp = os.path.join(td, "export.bin")
        cpf = os.path.join(td, "checkpoint.txt")
        key = open(os.path.join(td, "key.txt")).read().strip()
        good = open(exp, "rb").read()
        note = open(cpf, "rb").read()
        sink = open(os.devnull, "w")

        def run(export_bytes=None, note_bytes=None, key_s=None, incl=(), cons=(), raws=(),
                allow_erased=True):
            e2, c2 = os.path.join(td, "e2.bin"), os.path.join(td, "c2.txt")
            with open(e2, "wb") as f:
                f.write(good if export_bytes is None else export_bytes)
            with open(c2, "wb") as f:
                f.write(note if note_bytes is None else note_bytes)
            return verify(e2, c2, key if key_s is None else key_s, incl, cons, raws, out=sink,
                          allow_erased=allow_erased)

        try:
            r = run()
            check("sample verifies", r.count == 23 and r.erased == 3)
        except VerifyError as e:
            check("sample verifies", False, str(e))
            r = None
        try:
            run(allow_erased=False)
            check("an erased payload fails without --allow-erased", False)
        except VerifyError as e:
            check("an erased payload fails without --allow-erased",
                  "payload is erased" in str(e), str(e))
        # record offsets in the sample
        offs = []
        p = len(EXPORT_MAGIC)
        while p < len(good):
            (L,) = _U32.unpack_from(good, p)
            env_at = p + 4
            p = env_at + L
            pres = good[p]
            p += 1
            pay_at = None
            if pres:
                pay_at = p + 36
                p += 36 + _U32.unpack_from(good, p + 32)[0]
            offs.append((env_at, L, pay_at))

        def flip(at, x=0x01, data=None):
            b = bytearray(good if data is None else data)
            b[at] ^= x
            return bytes(b)

        e3, l3, pay3 = offs[3]
        expect_fail("version byte", lambda: run(flip(e3, 0x03)), "event 3: envelope version")
        expect_fail("seq byte", lambda: run(flip(e3 + 1)), "event 3: envelope seq")
        expect_fail("recorded_at", lambda: run(flip(e3 + 16, 0x80)), "event 3: recorded_at_us")
        expect_fail("actor length", lambda: run(flip(e3 + 25, 0x40)), "event 3")
        expect_fail("actor byte -> control", lambda: run(flip(e3 + 33, ord("s") ^ 0x0a)),
                    "event 3: actor contains a control character")
        expect_fail("actor byte -> bad utf8", lambda: run(flip(e3 + 33, ord("s") ^ 0xff)),
                    "event 3: actor is not valid UTF-8")
        expect_fail("actor byte -> other char", lambda: run(flip(e3 + 33, 0x02)),
                    "checkpoint: root")
        actor_len = _U64.unpack_from(good, e3 + 25)[0]
        tag_at = e3 + 33 + actor_len
        expect_fail("option tag 2", lambda: run(flip(tag_at, 0x03)), "event 3: subject option tag")
        expect_fail("commitment byte", lambda: run(flip(e3 + l3 - 1)),
                    "event 3: payload does not match its commitment")
        expect_fail("payload byte", lambda: run(flip(pay3 + 2)),
                    "event 3: payload does not match its commitment")
        expect_fail("salt byte", lambda: run(flip(pay3 - 36)),
                    "event 3: payload does not match its commitment")
        expect_fail("presence byte", lambda: run(flip(e3 + l3, 0x02)), "event 3: payload presence")
        expect_fail("envelope length", lambda: run(flip(e3 - 4, 0x01)), "event 3")
        expect_fail("truncated", lambda: run(good[:-1]), "event 22: export truncated")
        expect_fail("trailing garbage", lambda: run(good + b"\x00"), "event 23")
        expect_fail("bad header", lambda: run(b"x" + good[1:]), "export: does not start")
        # an envelope with a trailing byte but a consistent length prefix
        b = bytearray(good)
        b[e3 - 4:e3] = _U32.pack(l3 + 1)
        b[e3 + l3:e3 + l3] = b"\x00"
        expect_fail("trailing byte in envelope", lambda: run(bytes(b)), "event 3: 1 trailing bytes")
        # over-limit kind, properly framed, recomputed commitment would not matter
        envx = encode_envelope(0, 1, 1, "a", None, "k" * 101, b"\x00" * 32)
        bx = EXPORT_MAGIC + _U32.pack(len(envx)) + envx + b"\x00"
        expect_fail("kind over limit", lambda: run(bx), "event 0: kind length 101")
        envx = encode_envelope(0, 1, 1, "a", "", "k", b"\x00" * 32)
        bx = EXPORT_MAGIC + _U32.pack(len(envx)) + envx + b"\x00"
        expect_fail("empty subject", lambda: run(bx), "event 0: subject is empty")
        envx = encode_envelope(0, 1, 1, "a\u0085b", None, "k", b"\x00" * 32)
        bx = EXPORT_MAGIC + _U32.pack(len(envx)) + envx + b"\x00"
        expect_fail("C1 control char", lambda: run(bx), "event 0: actor contains a control")
        # checkpoint / key
        expect_fail("note text tampered", lambda: run(note_bytes=note.replace(b"\n23\n", b"\n22\n")),
                    "does not verify")
        sig_at = note.rindex(b" ") + 10
        nb = bytearray(note)
        nb[sig_at] = ord("A") if nb[sig_at] != ord("A") else ord("B")
        expect_fail("note signature tampered", lambda: run(note_bytes=bytes(nb)), "checkpoint")
        other = Ed25519PrivateKey.generate()
        expect_fail("wrong key", lambda: run(key_s=make_key_string("care.example/ledger", other)),
                    "no signature line for key")
        kparts = key.split("+", 2)
        bad_id = "%08x" % (int(kparts[1], 16) ^ 1)
        expect_fail("bad key id", lambda: run(key_s=f"{kparts[0]}+{bad_id}+{kparts[2]}"),
                    "does not match name and key")
        # cosignature of a witness is ignored
        wk = Ed25519PrivateKey.generate()
        text = note[:note.index(b"\n\n") + 1]
        from cryptography.hazmat.primitives import serialization
        wpub = wk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        wline = f"\u2014 witness.example {b64(key_id('witness.example', wpub) + wk.sign(text))}\n"
        try:
            run(note_bytes=note + wline.encode())
            check("witness cosignature ignored", True)
        except VerifyError as e:
            check("witness cosignature ignored", False, str(e))
        # a checkpoint over a prefix of the export
        prefix_root = mth([blake3_leaf(good[a:a + L]) for a, L, _ in offs[:10]], blake3_node, b"")
        try:
            r2 = run(note_bytes=make_note("care.example/ledger", 10, prefix_root, sk))
            check("prefix checkpoint", r2.roots[10] == prefix_root and r2.roots[23] == root)
        except VerifyError as e:
            check("prefix checkpoint", False, str(e))
        expect_fail("checkpoint beyond export",
                    lambda: run(note_bytes=make_note("care.example/ledger", 24, root, sk)),
                    "larger than the 23 events")
        # proofs and show-raw
        leaves = [blake3_leaf(good[a:a + L]) for a, L, _ in offs]
        ip = os.path.join(td, "inc.json")
        cp = os.path.join(td, "con.json")
        with open(ip, "w") as f:
            f.write(json.dumps({"leaf_index": 5, "tree_size": 19, "leaf_hash": b64(leaves[5]),
                                "proof": [b64(x) for x in rfc_path(5, leaves[:19], blake3_node)]}) + "\n")
        with open(cp, "w") as f:
            f.write(json.dumps({"size1": 6, "size2": 23,
                                "root1": b64(mth(leaves[:6], blake3_node, b"")), "root2": b64(root),
                                "proof": [b64(x) for x in rfc_proof(6, leaves, blake3_node)]}) + "\n")
        raw_arg = f"3={b64(good[e3:e3 + l3])}"
        try:
            r3 = run(incl=[ip], cons=[cp], raws=[raw_arg])
            check("proofs and raw verify", r3.raw_checked == 1)
        except VerifyError as e:
            check("proofs and raw verify", False, str(e))
        expect_fail("raw mismatch", lambda: run(raws=[f"4={b64(good[e3:e3 + l3])}"]),
                    "event 4: --show-raw")
        o = json.loads(open(ip).read())
        o["proof"][1] = b64(b"\x00" * 32)
        with open(ip, "w") as f:
            f.write(json.dumps(o))
        expect_fail("bad inclusion proof", lambda: run(incl=[ip]), "does not lead to the root")
        o = json.loads(open(cp).read())
        o["root1"] = b64(leaves[0])
        with open(cp, "w") as f:
            f.write(json.dumps(o))
        expect_fail("bad consistency root1", lambda: run(cons=[cp]), "root1")
        # empty export
        try:
            run(export_bytes=EXPORT_MAGIC,
                note_bytes=make_note("care.example/ledger", 0, _b3(b"").digest(), sk))
            check("empty export", True)
        except VerifyError as e:
            check("empty export", False, str(e))
        sink.close()

    print(f"self-test (format, merkle, sample export, tampering): {passed} passed, {failed} failed")
    for x in notes:
        print("  " + x)
    return 0 if (failed == 0 and vf == 0) else 1


# ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Verify a careledger export against a signed checkpoint (docs/FORMAT.md).")
    ap.add_argument("--export", help="export file (FORMAT.md 5)")
    ap.add_argument("--checkpoint", help="file with the signed note of `careledger checkpoint`")
    ap.add_argument("--key", help="verifier key string of `careledger key` (or @FILE)")
    ap.add_argument("--inclusion", action="append", default=[], metavar="FILE",
                    help="JSON line of `careledger prove inclusion` (repeatable)")
    ap.add_argument("--consistency", action="append", default=[], metavar="FILE",
                    help="JSON line of `careledger prove consistency` (repeatable)")
    ap.add_argument("--show-raw", action="append", default=[], metavar="SEQ=BASE64",
                    help="output of `careledger show --seq SEQ --raw` (repeatable)")
    ap.add_argument("--envelope", action="append", default=[], metavar="FILE",
                    help="without --export: an event's stored envelope bytes, one per --inclusion")
    ap.add_argument("--allow-erased", action="store_true",
                    help="accept records whose payload is erased (for ledgers with erasure events)")
    ap.add_argument("--self-test", action="store_true",
                    help="run the RFC 6962 vectors (SHA-256) and the built-in format tests")
    ap.add_argument("--vectors", default=os.path.join(
                        os.path.dirname(os.path.abspath(__file__)), "..", "crates", "log",
                        "tests", "data", "rfc6962-vectors"),
                    help="RFC 6962 vector directory for --self-test")
    ap.add_argument("--write-sample", metavar="DIR",
                    help="testing aid: write export.bin, checkpoint.txt, key.txt built from "
                         "FORMAT.md with a fresh key, then exit")
    ap.add_argument("--sample-events", type=int, default=1000, metavar="N")
    a = ap.parse_args(argv)

    if a.self_test:
        return self_test(a.vectors)
    if a.write_sample:
        _, root = write_sample(a.write_sample, a.sample_events)
        print(f"wrote {a.sample_events} events to {a.write_sample}, root {b64(root)}")
        return 0
    if not (a.checkpoint and a.key):
        ap.error("--checkpoint and --key are required")
    if a.envelope and a.export:
        ap.error("--envelope is for checking proofs without --export")
    key = a.key
    if key.startswith("@"):
        try:
            with open(key[1:], encoding="utf-8") as f:
                key = f.read()
        except OSError as e:
            print(f"verify_export: FAIL: key: cannot read {key[1:]}: {e.strerror}", file=sys.stderr)
            return 1
    try:
        if not a.export:
            verify_proofs(a.checkpoint, key, a.inclusion, a.envelope)
            return 0
        verify(a.export, a.checkpoint, key, a.inclusion, a.consistency, a.show_raw,
               allow_erased=a.allow_erased)
    except VerifyError as e:
        print(f"verify_export: FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
