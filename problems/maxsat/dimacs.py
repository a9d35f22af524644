"""DIMACS CNF / WCNF reading and writing: MSE 2022+ (`h` hard, no p-line) and legacy `p wcnf n m top`.

The reader is token-based (clauses may span or share lines), skips comments and blank lines, stops at a
SATLIB `%` trailer, and runs in compiled passes over the raw bytes (1M variables / 4.27M clauses in
seconds). Files ending in .gz / .bz2 / .xz (or .lzma) are (de)compressed transparently.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import warnings
import zlib
from pathlib import Path

import numba
import numpy as np

from polystep.validate import InputError
from problems.maxsat.formula import Formula


class InstanceFileError(InputError):
    """An instance file that cannot be read or parsed; the message names the file and, where known, the line."""

FORMATS = ("mse22", "legacy", "cnf")
_INT64_MAX = np.iinfo(np.int64).max

# Error codes shared by the compiled passes.
(_OK, _BAD_TOKEN, _OVERFLOW, _DUP_P, _LATE_P, _ZERO_W, _NEG_W, _BEYOND, _MISSING_0, _H_MISPLACED, _BAD_W,
 _WEIGHT_SUM) = range(12)
_MESSAGES = {
    _BAD_TOKEN: "non-integer token",
    _OVERFLOW: "integer does not fit in 64 bits",
    _DUP_P: "second p-line",
    _LATE_P: "p-line after the first clause",
    _ZERO_W: "clause weight 0 (weights must be >= 1)",
    _NEG_W: "negative clause weight (weights must be >= 1)",
    _BEYOND: "literal beyond the declared variable count",
    _MISSING_0: "last clause has no terminating 0",
    _H_MISPLACED: "'h' is only allowed as the first token of a clause in an MSE 2022 WCNF file",
    _BAD_W: "weight token expected",
    _WEIGHT_SUM: "the soft weights sum to 2^63 or more (MAX-SAT weights must sum below 2^63)",
}
_COUNT = re.compile(r"[0-9]+")
_MAX_VARS = 2**31 - 1  # literals are stored as int32


def _open(path: Path, mode: str):
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, mode)
    if suffix == ".bz2":
        return bz2.open(path, mode)
    if suffix in (".xz", ".lzma"):
        return lzma.open(path, mode)
    return open(path, mode)


# ------------------------------------------------------------------------------------------ compiled passes
@numba.njit(cache=True)
def _is_space(ch):
    return ch == 32 or ch == 9 or ch == 13 or ch == 11 or ch == 12


@numba.njit(cache=True)
def _tokenize(buf):
    """One pass over the bytes: integer / 'h' tokens with their line numbers, the p-line span, errors."""
    n = buf.shape[0]
    cap = n // 2 + 2
    values = np.empty(cap, np.int64)
    kinds = np.empty(cap, np.int8)  # 0 integer, 1 'h'
    lines = np.empty(cap, np.int64)
    ntok = 0
    line = 1
    p_start = -1
    p_end = -1
    p_line = -1
    i = 0
    while i < n:
        ch = buf[i]
        if ch == 10 or (ch == 13 and (i + 1 == n or buf[i + 1] != 10)):  # LF, CRLF (at its LF) or a lone CR
            line += 1
            i += 1
            continue
        if _is_space(ch):
            i += 1
            continue
        if ch == 99:  # 'c': comment to the end of the line (LF or CR)
            while i < n and buf[i] != 10 and buf[i] != 13:
                i += 1
            continue
        if ch == 37:  # '%': SATLIB trailer, stop
            break
        if ch == 112:  # 'p'
            if p_start >= 0:
                return values, kinds, lines, ntok, _DUP_P, line, p_start, p_end, p_line
            if ntok > 0:
                return values, kinds, lines, ntok, _LATE_P, line, p_start, p_end, p_line
            p_start = i
            p_line = line
            while i < n and buf[i] != 10 and buf[i] != 13:
                i += 1
            p_end = i
            continue
        if ch == 104 and (i + 1 == n or buf[i + 1] == 10 or _is_space(buf[i + 1])):  # lone 'h'
            values[ntok] = 0
            kinds[ntok] = 1
            lines[ntok] = line
            ntok += 1
            i += 1
            continue
        negative = False
        if ch == 45 or ch == 43:  # '-' / '+'
            negative = ch == 45
            i += 1
        ndigits = 0
        value = np.int64(0)
        while i < n and 48 <= buf[i] <= 57:
            d = np.int64(buf[i] - 48)
            if value > (np.int64(9223372036854775807) - d) // 10:
                return values, kinds, lines, ntok, _OVERFLOW, line, p_start, p_end, p_line
            value = value * 10 + d
            ndigits += 1
            i += 1
        if ndigits == 0 or (i < n and not (buf[i] == 10 or _is_space(buf[i]))):
            return values, kinds, lines, ntok, _BAD_TOKEN, line, p_start, p_end, p_line
        values[ntok] = -value if negative else value
        kinds[ntok] = 0
        lines[ntok] = line
        ntok += 1
    return values, kinds, lines, ntok, _OK, line, p_start, p_end, p_line


@numba.njit(cache=True)
def _structure(values, kinds, lines, ntok, mode, top, n_declared):
    """Split tokens into clauses. mode 0: CNF, 1: MSE 2022 WCNF, 2: legacy WCNF (weight >= top is hard)."""
    starts = np.empty(ntok + 1, np.int64)
    lengths = np.empty(ntok + 1, np.int64)
    weights = np.empty(ntok + 1, np.int64)
    hard = np.empty(ntok + 1, np.bool_)
    m = 0
    max_var = 0
    soft_sum = np.int64(0)
    t = 0
    while t < ntok:
        w = np.int64(1)
        is_hard = False
        if mode != 0:
            if kinds[t] == 1:
                if mode != 1:
                    return starts, lengths, weights, hard, m, max_var, _H_MISPLACED, lines[t]
                is_hard = True
                w = 0
            else:
                w = values[t]
                if w == 0:
                    return starts, lengths, weights, hard, m, max_var, _ZERO_W, lines[t]
                if w < 0:
                    return starts, lengths, weights, hard, m, max_var, _NEG_W, lines[t]
                if mode == 2 and top > 0 and w >= top:
                    is_hard = True
                    w = 0
                if w > np.int64(9223372036854775807) - soft_sum:
                    return starts, lengths, weights, hard, m, max_var, _WEIGHT_SUM, lines[t]
                soft_sum += w
            t += 1
            if t >= ntok:
                return starts, lengths, weights, hard, m, max_var, _MISSING_0, lines[t - 1]
        start = t
        while True:
            if t >= ntok:
                return starts, lengths, weights, hard, m, max_var, _MISSING_0, lines[ntok - 1]
            if kinds[t] == 1:
                return starts, lengths, weights, hard, m, max_var, _H_MISPLACED, lines[t]
            lit = values[t]
            if lit == 0:
                break
            a = lit if lit > 0 else -lit
            if n_declared >= 0 and a > n_declared:
                return starts, lengths, weights, hard, m, max_var, _BEYOND, lines[t]
            if a > 2147483647:
                return starts, lengths, weights, hard, m, max_var, _OVERFLOW, lines[t]
            if a > max_var:
                max_var = a
            t += 1
        starts[m] = start
        lengths[m] = t - start
        weights[m] = w
        hard[m] = is_hard
        m += 1
        t += 1  # the terminating 0
    return starts, lengths, weights, hard, m, max_var, _OK, 0


@numba.njit(cache=True)
def _fill(values, starts, lengths, m, kmax):
    out = np.zeros((m, kmax), np.int32)
    for j in range(m):
        s = starts[j]
        for q in range(lengths[j]):
            out[j, q] = values[s + q]
    return out


@numba.njit(cache=True)
def _digits(v):
    if v < 0:
        v = -v
    d = 1
    while v >= 10:
        v //= 10
        d += 1
    return d


@numba.njit(cache=True)
def _put_int(out, pos, v):
    if v < 0:
        out[pos] = 45
        pos += 1
        v = -v
    d = _digits(v)
    for q in range(d - 1, -1, -1):
        out[pos + q] = 48 + v % 10
        v //= 10
    return pos + d


@numba.njit(cache=True)
def _format_body(clauses, lengths, prefix_kind, prefix_value):
    """Clause lines as bytes: [prefix] literals 0 newline. prefix_kind 0 none, 1 'h', 2 the integer value."""
    m = clauses.shape[0]
    size = 0
    for j in range(m):
        if prefix_kind[j] == 1:
            size += 2
        elif prefix_kind[j] == 2:
            size += _digits(prefix_value[j]) + 1
        for q in range(lengths[j]):
            v = np.int64(clauses[j, q])
            size += _digits(v) + (1 if v < 0 else 0) + 1
        size += 2
    out = np.empty(size, np.uint8)
    pos = 0
    for j in range(m):
        if prefix_kind[j] == 1:
            out[pos] = 104
            out[pos + 1] = 32
            pos += 2
        elif prefix_kind[j] == 2:
            pos = _put_int(out, pos, prefix_value[j])
            out[pos] = 32
            pos += 1
        for q in range(lengths[j]):
            pos = _put_int(out, pos, np.int64(clauses[j, q]))
            out[pos] = 32
            pos += 1
        out[pos] = 48
        out[pos + 1] = 10
        pos += 2
    return out


# ------------------------------------------------------------------------------------------- public API
def _parse_header(text: str, where: str) -> tuple[str, int, int, int]:
    parts = text.split()
    if len(parts) < 4 or parts[0] != "p" or parts[1] not in ("cnf", "wcnf") or (
        parts[1] == "cnf" and len(parts) != 4
    ) or (parts[1] == "wcnf" and len(parts) > 5):
        raise InstanceFileError(f"{where}: malformed p-line {text.strip()!r}; "
                               "expected 'p cnf N M' or 'p wcnf N M [TOP]'")
    for x in parts[2:]:
        if x.startswith("-") and _COUNT.fullmatch(x[1:]):
            raise InstanceFileError(f"{where}: negative count in p-line {text.strip()!r}")
        if not _COUNT.fullmatch(x):
            raise InstanceFileError(f"{where}: non-integer count {x!r} in p-line {text.strip()!r} "
                                   "(plain digits 0-9 only)")
    nums = [int(x) for x in parts[2:]]
    if nums[0] > _MAX_VARS:
        raise InstanceFileError(f"{where}: variable count {nums[0]} in p-line is beyond {_MAX_VARS}")
    if any(x > _INT64_MAX for x in nums[1:]):
        raise InstanceFileError(f"{where}: count in p-line {text.strip()!r} does not fit in 64 bits (max 2^63 - 1)")
    if len(nums) == 3 and nums[2] < 1:
        raise InstanceFileError(f"{where}: top must be >= 1 in p-line {text.strip()!r}")
    top = nums[2] if len(nums) == 3 else -1
    return parts[1], nums[0], nums[1], top


def parse_bytes(data: bytes, name: str = "<bytes>", n_vars: int | None = None) -> Formula:
    """Parse DIMACS CNF / WCNF text (bytes). Without a p-line the MSE 2022 WCNF format is assumed.

    `n_vars` sets the variable count of files that declare none (default: the largest variable used).
    Raises ValueError naming `name` and the line; warns when the header's clause count disagrees.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    values, kinds, lines, ntok, err, line, p_start, p_end, p_line = _tokenize(buf)
    if err != _OK:
        raise InstanceFileError(f"{name}:{line}: {_MESSAGES[err]}")
    if p_start >= 0:
        header = bytes(buf[p_start:p_end]).decode("ascii", errors="replace")
        kind, n_declared, m_declared, top = _parse_header(header, f"{name}:{p_line}")
        mode = 0 if kind == "cnf" else 2
    else:
        kind, n_declared, m_declared, top, mode = "mse22", -1, -1, -1, 1
    starts, lengths, weights, hard, m, max_var, err, line = _structure(
        values, kinds, lines, ntok, mode, top, n_declared
    )
    if err != _OK:
        raise InstanceFileError(f"{name}:{line}: {_MESSAGES[err]}")
    if m_declared >= 0 and m_declared != m:
        warnings.warn(f"{name}: header declares {m_declared} clauses, the body has {m}", stacklevel=3)
    lengths = lengths[:m]
    kmax = int(lengths.max()) if m else 1
    clauses = _fill(values, starts, lengths, m, max(kmax, 1))
    if n_declared >= 0:
        n = n_declared
    else:
        n = max_var if n_vars is None else int(n_vars)
        if n < max_var:
            raise ValueError(f"n_vars: {n} is below the largest variable {max_var} used in {name}")
    return Formula(n, clauses, weights[:m].copy(), hard[:m].copy())


def read(path: str | os.PathLike, n_vars: int | None = None) -> Formula:
    """Read a DIMACS CNF or WCNF file (MSE 2022+ or legacy; .gz/.bz2/.xz by extension) into a Formula."""
    path = Path(path)
    return parse_bytes(read_bytes(path), str(path), n_vars=n_vars)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The (decompressed) bytes of `path`; a corrupt or truncated .gz / .bz2 / .xz raises ValueError naming it."""
    path = Path(path)
    try:
        with _open(path, "rb") as handle:
            return handle.read()
    except (gzip.BadGzipFile, EOFError, zlib.error, lzma.LZMAError) as err:
        raise InstanceFileError(f"{path}: cannot decompress ({path.suffix} file truncated or not in that format): "
                                f"{err}") from None
    except OSError as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise InstanceFileError(f"{path}: cannot read ({err})") from None


def to_bytes(formula: Formula, format: str = "mse22") -> bytes:
    """DIMACS text of `formula`: 'mse22' (h / weight prefixes), 'legacy' (p wcnf n m top) or 'cnf'."""
    if format not in FORMATS:
        raise ValueError(f"format: unknown {format!r}; allowed: {', '.join(FORMATS)}")
    m = formula.n_clauses
    lengths = formula.lengths.astype(np.int64)
    if format == "cnf":
        if formula.is_weighted:
            raise ValueError("format: 'cnf' cannot hold weights or hard clauses; use 'mse22' or 'legacy'")
        head = f"p cnf {formula.n_vars} {m}\n"
        kind = np.zeros(m, np.int8)
        value = np.zeros(m, np.int64)
    elif format == "mse22":
        head = f"c MSE 2022 WCNF: {formula.n_vars} variables, {m} clauses\n"
        kind = np.where(formula.hard, 1, 2).astype(np.int8)
        value = formula.weights
    else:
        soft = int(formula.weights.astype(object).sum())
        top = soft + 1
        if top > _INT64_MAX:
            raise ValueError("weights: the soft weights sum beyond 2^63 - 1; 'legacy' top cannot be written")
        head = f"p wcnf {formula.n_vars} {m} {top}\n"
        kind = np.full(m, 2, np.int8)
        value = np.where(formula.hard, top, formula.weights).astype(np.int64)
    body = _format_body(formula.clauses, lengths, kind, value)
    return head.encode("ascii") + body.tobytes()


def write(formula: Formula, path: str | os.PathLike, format: str = "mse22") -> Path:
    """Write `formula` to `path` in `format` ('mse22', 'legacy' or 'cnf'); compressed by extension."""
    data = to_bytes(formula, format)
    path = Path(path)
    with _open(path, "wb") as handle:
        handle.write(data)
    return path
