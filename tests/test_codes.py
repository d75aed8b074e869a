"""Receipts and the mini-program's typed codes: drawn uniformly from the alphabet."""

from collections import Counter

from server.miniprogram.crypto import new_code, normalize_code
from server.tokens.codec import (
    RECEIPT_ALPHABET,
    RECEIPT_RE,
    new_receipt,
    normalize_receipt,
    random_chars,
)


def test_every_position_is_uniform_over_the_alphabet():
    draws = [random_chars(12) for _ in range(200 * len(RECEIPT_ALPHABET))]
    assert {len(d) for d in draws} == {12}
    for pos in range(12):
        counts = Counter(d[pos] for d in draws)
        assert set(counts) == set(RECEIPT_ALPHABET)
        # 200 expected per character; a binomial sd is ~14, so these bounds are ~6 sd
        assert 115 < min(counts.values()) and max(counts.values()) < 285, (pos, counts)


def test_receipts_have_their_format_and_do_not_repeat():
    receipts = [new_receipt() for _ in range(5000)]
    assert all(RECEIPT_RE.match(r) and normalize_receipt(r.lower()) == r for r in receipts)
    assert len(set(receipts)) == len(receipts)


def test_mini_program_codes_round_trip_through_normalize():
    for length in (4, 8, 16):
        code = new_code(length)
        assert len(code) == length and normalize_code(code.lower(), length) == code


def test_pooled_bytes_never_repeat_across_chunks_or_a_fork():
    import os

    from server.core import randompool

    seen = {randompool.random_bytes(16) for _ in range(3 * randompool.CHUNK // 16)}
    assert len(seen) == 3 * randompool.CHUNK // 16  # three chunks' worth, all distinct
    assert len(randompool.random_bytes(randompool.CHUNK + 1)) == randompool.CHUNK + 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's next bytes must not be the parent's next bytes
        os.write(write, randompool.random_bytes(16))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16)
    assert len(child) == 16 and child != randompool.random_bytes(16)


def test_random_below_stays_in_range_and_covers_it():
    import pytest

    from server.core.randompool import random_below

    draws = Counter(random_below(7) for _ in range(7000))
    assert set(draws) == set(range(7)) and min(draws.values()) > 800
    assert random_below(1) == 0
    with pytest.raises(ValueError):
        random_below(0)
