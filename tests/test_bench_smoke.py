"""A tiny pass of `make bench`, so the harness cannot rot (figures are not checked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["cores", "vote_per_s", "ceiling_per_s", "ceiling_flask_per_s", "naive_per_s",
        "vote_over_ceiling", "vote_over_flask_ceiling",
        "vote_over_naive", "vote_over_naive_with_reads", "read_p99_ms_1k", "read_p99_ms_100k",
        "burst_errors", "burst_p99_ms", "burst_counts_match", "close_100k_s", "slips_10k_s",
        "close_then_scrub_s", "close_ballots",
        # issue 8: one web host against two; issue 4: leaderboard reads by board size
        "vote_per_s_1_host", "vote_per_s_2_hosts", "hosts_counts_match",
        "board_read_p99_ms_100", "board_read_p99_ms_100k", "board_read_p99_ratio"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by `make test`")
@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                    reason="the harness picks its own database; once per CI run is enough")
def test_bench_harness_smoke(tmp_path):
    out = tmp_path / "latest.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench/run.py"), "--smoke", "--sqlite",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in KEYS:
        assert key in figures, key
    assert figures["vote_per_s"] > 0 and figures["ceiling_per_s"] > 0
    assert figures["ceiling_flask_per_s"] > 0
    assert figures["burst_counts_match"] is True and figures["burst_errors"] == 0
    assert figures["hosts_counts_match"] is True
    assert figures["close_ballots"] == 1000  # --smoke's --big-round: a fresh round, exactly
    assert figures["board_read_p99_ms_100"] > 0 and figures["board_read_p99_ms_100k"] > 0
    assert "vote / naive" in run.stdout
