"""QR codes for voting URLs: single images (PNG, SVG) and bare module matrices.

All codes use error correction level M and, in images, the standard 4-module
quiet zone.

Single images come straight from the `qrcode` library. The printable slips
need thousands of codes at once, and the library takes ~4.5 ms a code (pure
Python polynomial arithmetic, and the symbol built and scored eight times to
choose the mask). `qr_row_bytes` / `qr_matrix` take from the library the
version choice, the block structure and the fixed patterns of each version
(finders, timing, alignment, format and version information: read once per
version by running the library up to the data placement), and do the rest
themselves: the byte-mode bit stream and padding, table-driven Reed-Solomon,
placement, masking and the mask choice, scored with the library's own
penalty rules (ISO 18004 N1-N4 counted exactly as `qrcode.util.lost_point`
counts them, same tie-break) using whole-matrix bit operations on Python
integers. The result is the library's symbol module for module;
tests/test_slips.py checks that on many inputs and versions, so a change
inside `qrcode` cannot silently break the slips.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

import qrcode
import qrcode.image.svg
from qrcode import base, exceptions, util
from qrcode.constants import ERROR_CORRECT_M

BORDER = 4


def _new(box_size: int = 10, border: int = BORDER) -> qrcode.QRCode:
    return qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)


def qr_png(data: str, box_size: int = 10) -> bytes:
    """A PNG of `data`: black on white, error correction M, 4-module border."""
    qr = _new(box_size=box_size)
    qr.add_data(data)
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(data: str) -> bytes:
    """An SVG (one path) of `data`: error correction M, 4-module border."""
    qr = _new()
    qr.add_data(data)
    qr.make(fit=True)
    img = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


# --- fast symbols for bulk printing ------------------------------------------------------
#
# A matrix is one integer: module (r, c) is bit r*S + c, S being n + 1 rounded
# up to whole bytes, so each row is followed by always-zero guard bits. Shifts
# then never carry a pattern from one row into the next: any window that would
# straddle two rows contains a guard bit, which is neither dark (a bit of A)
# nor light (a bit of L). The transposed matrix (columns as rows) uses the same
# layout. Rows starting on byte boundaries let `qr_row_bytes` hand them out as
# plain bytes.


class _Probe(qrcode.QRCode):
    """Runs the library's makeImpl up to, not including, the data placement."""

    captured: list[list[bool | None]] | None = None

    def map_data(self, data, mask_pattern):
        self.captured = [list(row) for row in self.modules]


@dataclass(frozen=True)
class _Layout:
    n: int
    stride: int
    valid: int  # every module
    nibbles: list[tuple[list[int], list[int]]]  # per data nibble: value -> (rows, cols) bits
    score: list[tuple[int, int]]  # per mask: (rows, cols) to XOR with the data bits
    final: list[int]  # per mask: rows to XOR with the data bits for the real symbol


_layouts: dict[int, _Layout] = {}
_versions: dict[int, int] = {}  # payload bytes -> version
_lock = threading.Lock()


def _pack(cells: Sequence[Sequence[bool | None]], stride: int, transpose: bool = False) -> int:
    bits = 0
    for r, row in enumerate(cells):
        for c, v in enumerate(row):
            if v:
                bits |= 1 << ((c * stride + r) if transpose else (r * stride + c))
    return bits


def _layout(version: int) -> _Layout:
    layout = _layouts.get(version)
    if layout is not None:
        return layout
    with _lock:
        if version in _layouts:
            return _layouts[version]
        probe = _Probe(version=version, error_correction=ERROR_CORRECT_M, border=0)
        probe.data_cache = [0]  # skip create_data: only the fixed patterns are wanted
        probe.makeImpl(True, 0)  # format information blank, as the library scores masks
        assert probe.captured is not None
        blank = probe.captured
        n = len(blank)
        stride = 8 * ((n + 8) // 8)  # >= n + 1, whole bytes
        region = [[m is None for m in row] for row in blank]
        fixed_test = [[bool(m) for m in row] for row in blank]

        # Placement order of the data bits: the library's two-column zigzag.
        order: list[tuple[int, int]] = []
        inc, row = -1, n - 1
        for col in range(n - 1, 0, -2):
            if col <= 6:
                col -= 1
            while True:
                for c in (col, col - 1):
                    if region[row][c]:
                        order.append((row, c))
                row += inc
                if row < 0 or row >= n:
                    row -= inc
                    inc = -inc
                    break
        nibbles = []
        for k in range(len(order) // 4):
            cells = order[4 * k: 4 * k + 4]  # most significant bit first
            table = []
            for value in range(16):
                rows = cols = 0
                for i, (r, c) in enumerate(cells):
                    if value >> (3 - i) & 1:
                        rows |= 1 << (r * stride + c)
                        cols |= 1 << (c * stride + r)
                table.append((rows, cols))
            nibbles.append(([t[0] for t in table], [t[1] for t in table]))

        score, final = [], []
        for pattern in range(8):
            f = util.mask_func(pattern)
            mask = [[region[r][c] and f(r, c) for c in range(n)] for r in range(n)]
            probe.makeImpl(False, pattern)
            assert probe.captured is not None
            fixed = [[bool(m) for m in row] for row in probe.captured]
            score.append((_pack(mask, stride) ^ _pack(fixed_test, stride),
                          _pack(mask, stride, True) ^ _pack(fixed_test, stride, True)))
            final.append(_pack(mask, stride) ^ _pack(fixed, stride))
        valid = _pack([[True] * n for _ in range(n)], stride)
        layout = _Layout(n, stride, valid, nibbles, score, final)
        _layouts[version] = layout
        return layout


def _runs_and_finders(a: int, light: int) -> int:
    """N1 + N3 along the rows of `a` (dark bits) / `light`."""
    lost = 0
    for x in (a, light):
        # N1: a run of k >= 5 scores k - 2 = (k - 4 windows of five) + 2 per run
        t = x & (x >> 1)
        t &= t >> 2
        five = t & (x >> 4)
        lost += int.bit_count(five) + 2 * int.bit_count(five & ~(five << 1))
    # N3: dark-light-dark-dark-dark-light-dark with four light modules before or after
    core = a & (light >> 1) & (a >> 2) & (a >> 3) & (a >> 4) & (light >> 5) & (a >> 6)
    t = light & (light >> 1)
    four_light = t & (t >> 2)
    lost += 40 * (int.bit_count(core & (four_light >> 7)) + int.bit_count(four_light & (core >> 4)))
    return lost


def _penalty(a: int, at: int, lay: _Layout) -> int:
    """qrcode.util.lost_point of the matrix `a` (rows) / `at` (columns)."""
    valid, stride = lay.valid, lay.stride
    light, light_t = a ^ valid, at ^ valid
    lost = _runs_and_finders(a, light) + _runs_and_finders(at, light_t)
    # N2: 3 per 2x2 block of one colour
    d2 = a & (a >> 1)
    l2 = light & (light >> 1)
    lost += 3 * (int.bit_count(d2 & (d2 >> stride)) + int.bit_count(l2 & (l2 >> stride)))
    # N4: 10 per 5 % of dark modules away from 50 % (same float steps as qrcode)
    percent = float(int.bit_count(a)) / (lay.n**2)
    lost += int(abs(percent * 100 - 50) / 5) * 10
    return lost


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 510, [0] * 256
    x = 1
    for i in range(255):
        exp[i] = exp[i + 255] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    return exp, log


_EXP, _LOG = _gf_tables()
_rs_tables: dict[int, list[int]] = {}


def _rs_table(ec_count: int) -> list[int]:
    """factor -> factor * g(x) without its leading term, as one big-endian integer."""
    table = _rs_tables.get(ec_count)
    if table is None:
        gen = [1]  # g(x) = (x + a^0)(x + a^1)...(x + a^(ec_count - 1)), highest power first
        for i in range(ec_count):
            nxt = gen + [0]
            for j, coef in enumerate(gen):
                if coef:
                    nxt[j + 1] ^= _EXP[_LOG[coef] + i]
            gen = nxt
        table = [0] * 256
        for f in range(1, 256):
            lf = _LOG[f]
            table[f] = int.from_bytes(
                bytes(_EXP[lf + _LOG[g]] if g else 0 for g in gen[1:]), "big")
        _rs_tables[ec_count] = table
    return table


def _codewords(raw: bytes, version: int) -> bytes:
    """util.create_data for one byte-mode segment: bits, padding, Reed-Solomon, interleave."""
    blocks = base.rs_blocks(version, ERROR_CORRECT_M)
    capacity = sum(b.data_count for b in blocks)
    count_bits = util.length_in_bits(util.MODE_8BIT_BYTE, version)
    value = (util.MODE_8BIT_BYTE << count_bits | len(raw)) << 8 * len(raw) | int.from_bytes(raw)
    nbits = 4 + count_bits + 8 * len(raw)
    if nbits > capacity * 8:
        raise exceptions.DataOverflowError()
    pad = min(capacity * 8 - nbits, 4)  # terminator
    pad += -(nbits + pad) % 8  # to a whole byte
    stream = (value << pad).to_bytes((nbits + pad) // 8, "big")
    stream += bytes((util.PAD0, util.PAD1)) * ((capacity - len(stream)) // 2 + 1)
    stream = stream[:capacity]

    data_blocks, ec_blocks = [], []
    offset = 0
    for block in blocks:
        chunk = stream[offset: offset + block.data_count]
        offset += block.data_count
        ec_count = block.total_count - block.data_count
        table = _rs_table(ec_count)
        top, full = 8 * (ec_count - 1), (1 << 8 * ec_count) - 1
        reg = 0
        for byte in chunk:
            reg = ((reg << 8) & full) ^ table[(reg >> top) ^ byte]
        data_blocks.append(chunk)
        ec_blocks.append(reg.to_bytes(ec_count, "big"))
    out = bytearray()
    for group in (data_blocks, ec_blocks):  # interleave: 1st byte of each block, 2nd, ...
        for column in zip_longest(*group):
            out.extend(b for b in column if b is not None)
    return bytes(out)


def _symbol(data: str) -> tuple[int, _Layout]:
    raw = data.encode("utf-8")
    version = _versions.get(len(raw))
    if version is None:
        fit = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
        fit.data_list = [util.QRData(raw, mode=util.MODE_8BIT_BYTE)]
        version = fit.best_fit()
        _versions[len(raw)] = version
    lay = _layout(version)
    rows = cols = 0
    nib = lay.nibbles
    for k, byte in enumerate(_codewords(raw, version)):
        hi_rows, hi_cols = nib[2 * k]
        lo_rows, lo_cols = nib[2 * k + 1]
        rows |= hi_rows[byte >> 4] | lo_rows[byte & 15]
        cols |= hi_cols[byte >> 4] | lo_cols[byte & 15]
    best, best_lost = 0, 0
    for pattern, (srows, scols) in enumerate(lay.score):
        lost = _penalty(rows ^ srows, cols ^ scols, lay)
        if pattern == 0 or lost < best_lost:
            best, best_lost = pattern, lost
    return rows ^ lay.final[best], lay


def qr_row_bytes(data: str) -> tuple[int, int, bytes]:
    """(n, row_len, rows): the n x n symbol for `data`, level M, one byte-mode segment,
    no quiet zone, packed a row per `row_len` bytes.

    Module (r, c) is dark when bit c % 8 (least significant first) of
    rows[r * row_len + c // 8] is set. Bits past column n - 1 are zero.
    """
    bits, lay = _symbol(data)
    row_len = lay.stride // 8
    return lay.n, row_len, bits.to_bytes(lay.n * row_len, "little")


def qr_matrix(data: str) -> list[list[bool]]:
    """The symbol for `data` as rows of booleans (True = dark), without quiet zone."""
    bits, lay = _symbol(data)
    n, stride = lay.n, lay.stride
    text = format(bits, f"0{n * stride}b")[::-1]
    return [[ch == "1" for ch in text[r * stride: r * stride + n]] for r in range(n)]
