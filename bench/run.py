"""`make bench`: pingyi under load against the same server's ceiling and a naive peer.

Everything runs in one go on this machine, and the figures that matter are
ratios: absolute numbers drift on shared machines. Each throughput is the
median of several wrk runs. Writes a table to stdout and bench/out/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import backends, boards, data, meeting  # noqa: E402
from bench.burst import batch_summary, burst, lone_voter  # noqa: E402
from bench.journey import NAIVE, Route, journeys  # noqa: E402

WRK_THREADS = 2
LONE_VOTERS = 5  # ballots sent one at a time after the bursts (measure_burst)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(app_uri: str | None, env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn with config/gunicorn.conf.py: pingyi as configured (app_uri None), or
    another WSGI app (the naive peer) on gunicorn's threaded workers."""
    port = free_port()
    full = {**os.environ, **env, "PINGYI_BIND": f"127.0.0.1:{port}",
            "PINGYI_LOG_LEVEL": "warning"}
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.conf.py"),
             *(["-k", "gthread", app_uri] if app_uri else [])],
            cwd=ROOT, env=full, stdout=fh, stderr=fh)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/", timeout=1)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {app_uri} did not start; see {log}") from None
                time.sleep(0.1)
        # Every worker boots the app on its own: let them all finish before measuring.
        subprocess.run(["wrk", "-t1", "-c16", "-d2s", base + "/"], capture_output=True,
                       check=False)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk(script: str, url: str, args: list[str], duration: float, conns: int,
        threads: int = WRK_THREADS) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(ROOT / "bench/wrk" / script), url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    res = json.loads(m.group(1))
    res["per_s"] = res.get("s2xx", 0) / (res["duration_us"] / 1e6)
    res["answered_per_s"] = (res.get("s2xx", 0) + res.get("s4xx", 0)) / (res["duration_us"] / 1e6)
    return res


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="pingyi-bench-"))
        self.db_url = backends.database_url(self.work, prefer_sqlite=args.sqlite)
        self.redis_url = backends.redis_url(self.work)
        self.cluster = (backends.redis_cluster(self.work) if getattr(args, "redis_cluster", False)
                        else None)
        cluster_nodes = {"REDIS_CLUSTER_NODES": self.cluster.nodes} if self.cluster else {}
        from server.app import create_app

        self.app = create_app({"DATABASE_URL": self.db_url, "REDIS_URL": self.redis_url,
                               "SECRET_KEY": "bench", **cluster_nodes,
                               "INSTANCE_PATH": self.work / "instance", "LOG_LEVEL": "WARNING"})
        self.env = {"DATABASE_URL": self.db_url, "REDIS_URL": self.redis_url, **cluster_nodes,
                    "SECRET_KEY": "bench", "BENCH_ENDPOINTS": "1", "LOG_LEVEL": "WARNING",
                    # every request comes from loopback and 5% carry unknown tokens:
                    # the token-guessing limit (core/ratelimit.py) would stop the run
                    "TOKEN_GUESS_LIMIT": "0",
                    "PINGYI_WORKERS": str(args.workers), "PINGYI_THREADS": str(args.threads)}
        self.log = self.work / "server.log"
        self.out: dict[str, Any] = {}
        self.only: list[str] = list(PHASES)

    # -- setup -----------------------------------------------------------------
    def reset(self) -> None:
        import redis

        from server.core.db import db

        redis.Redis.from_url(self.redis_url).flushdb()
        if self.cluster:
            self.cluster.flush()
        with self.app.app_context():
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("DROP SCHEMA public CASCADE"))
                db.session.execute(text("CREATE SCHEMA public"))
                db.session.commit()
            db.create_all()
            from server.accounts.operations import create_user, new_api_key
            from server.organization.models import Committee

            c = Committee(name="基准测试党委")
            db.session.add(c)
            db.session.commit()
            self.committee_id = c.id
            user = create_user("bench", "bench-password", committee_id=c.id)
            self.auth = "Bearer " + new_api_key(user, "bench")

    def fresh_round(self, title: str) -> int:
        with self.app.app_context():
            return data.appraisal_round(self.committee_id, title).id

    def bodies_file(self, round_id: int, count: int, mixed: bool = False) -> Path:
        from server.roundbase.reads import get_round

        with self.app.app_context():
            rnd = get_round(round_id)
            toks = data.tokens(rnd, count)
            bodies = (data.mixed_bodies(rnd, toks, WRK_THREADS) if mixed
                      else data.ballot_bodies(rnd, toks))
        prefix = self.work / f"bodies-{round_id}-{time.monotonic_ns()}"
        data.write_bodies(prefix, bodies, WRK_THREADS)
        return prefix

    def tokens_needed(self) -> int:
        return self.args.max_rate * int(self.args.duration + 1)

    # -- measurements ------------------------------------------------------------
    def median_rate(self, runs: list[dict[str, Any]], key: str = "per_s") -> float:
        return statistics.median(r[key] for r in runs)

    def measure_pingyi(self) -> None:
        """Ceiling, votes, the mix and votes with reads; when the naive phase runs too,
        its runs are interleaved with these (both servers up, idle in turn), so the
        ratios compare runs minutes apart at most, not phases far apart."""
        a = self.args
        naive = "naive" in self.only
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(gunicorn(None, self.env, self.log))
            nbase = stack.enter_context(self.naive_server()) if naive else ""
            rid = self.fresh_round("吞吐量测试")
            ceiling, flask, votes, mixes, with_reads, reads = [], [], [], [], [], []
            nvotes, nwith_reads, nreads = [], [], []
            for _ in range(a.runs):
                prefix = self.bodies_file(rid, 100)
                ceiling.append(wrk("post.lua", base, [str(prefix), "/healthz/echo"],
                                   a.duration, a.conns))
                flask.append(wrk("post.lua", base, [str(prefix), "/healthz/echo-flask"],
                                 a.duration, a.conns))
                prefix = self.bodies_file(rid, self.tokens_needed())
                votes.append(wrk("post.lua", base, [str(prefix), "/api/v1/ballots"],
                                 a.duration, a.conns))
                if naive:
                    nvotes.append(wrk("post.lua", nbase, [str(self.naive_bodies()), "/vote"],
                                      a.duration, a.conns))
            for _ in range(a.runs):
                prefix = self.bodies_file(rid, self.tokens_needed(), mixed=True)
                mixes.append(wrk("post.lua", base, [str(prefix), "/api/v1/ballots"],
                                 a.duration, a.conns))
            for _ in range(a.runs):
                prefix = self.bodies_file(rid, self.tokens_needed())
                v, r = self.with_reads(base, prefix, f"/api/v1/rounds/{rid}/turnout")
                with_reads.append(v)
                reads.append(r)
                if naive:
                    v, r = self.with_reads(nbase, self.naive_bodies(), "/tally", "/vote")
                    nwith_reads.append(v)
                    nreads.append(r)
        self.out.update(
            ceiling_per_s=self.median_rate(ceiling),
            ceiling_flask_per_s=self.median_rate(flask),
            vote_per_s=self.median_rate(votes),
            vote_p99_ms=statistics.median(r["p99_ms"] for r in votes),
            vote_5xx=sum(r["s5xx"] for r in votes),
            mix_answered_per_s=self.median_rate(mixes, "answered_per_s"),
            mix_accepted_per_s=self.median_rate(mixes),
            mix_5xx=sum(r["s5xx"] for r in mixes),
            vote_with_reads_per_s=self.median_rate(with_reads),
            read_under_load_p99_ms=statistics.median(r["p99_ms"] for r in reads),
            reads_per_s=self.median_rate(reads),
            wrapped=sum(r["wrapped"] for r in votes + mixes + with_reads),
        )
        if naive:
            self.out.update(self.naive_figures(nvotes, nwith_reads, nreads))

    def with_reads(self, base: str, prefix: Path, read_path: str,
                   vote_path: str = "/api/v1/ballots") -> tuple[dict, dict]:
        """Votes at full speed while `read_conns` connections each read every
        `read_delay_ms` (the same offered read load for every server)."""
        box: dict[str, Any] = {}

        def reader() -> None:
            box["r"] = wrk("get.lua", base, [read_path, self.auth, str(self.args.read_delay_ms)],
                           self.args.duration, self.args.read_conns, threads=1)

        t = threading.Thread(target=reader)
        t.start()
        votes = wrk("post.lua", base, [str(prefix), vote_path], self.args.duration,
                    self.args.conns)
        t.join()
        return votes, box["r"]

    @contextlib.contextmanager
    def naive_server(self) -> Iterator[str]:
        """The naive peer on the same database, its table created."""
        with gunicorn("bench.naive_app:app", self.env, self.log) as base:
            subprocess.run([sys.executable, "-c",
                            "from bench.naive_app import app, db\n"
                            "with app.app_context(): db.create_all()"],
                           cwd=ROOT, env={**os.environ, **self.env}, check=True)
            yield base

    def naive_bodies(self) -> Path:
        """Body files for the naive peer: the same ballots pingyi is sent (fresh
        tokens, the same answers), in a round of its own."""
        prefix = self.work / f"naive-{time.monotonic_ns()}"
        data.write_bodies(prefix, self.naive_ballots(self.tokens_needed()), WRK_THREADS)
        return prefix

    def naive_ballots(self, count: int) -> list[str]:
        import secrets

        from server.roundbase.reads import get_round

        if not hasattr(self, "naive_round"):
            self.naive_round = self.fresh_round("对照组")
        with self.app.app_context():
            rnd = get_round(self.naive_round)
            return data.ballot_bodies(rnd, [f"{rnd.id}.{secrets.token_urlsafe(16)}"
                                            for _ in range(count)])

    def measure_journey(self) -> None:
        """The whole voter journey (bench/journey.py: the page and its static files,
        the ballot form, the ballot), `runs` times against pingyi and the naive
        peer in turn (both servers up): medians of journeys per second."""
        from server.roundbase.reads import get_round

        a = self.args
        rid = self.fresh_round("投票全程测试")
        ours, theirs = [], []
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(gunicorn(None, self.env, self.log))
            nbase = stack.enter_context(self.naive_server())
            for _ in range(a.runs):
                with self.app.app_context():
                    rnd = get_round(rid)
                    ballots = data.ballot_bodies(rnd, data.tokens(rnd, a.journeys))
                ours.append(journeys(base, Route(), ballots, a.journey_voters))
                theirs.append(journeys(nbase, NAIVE, self.naive_ballots(a.journeys),
                                       a.journey_voters))
        self.out.update(
            journey_per_s=statistics.median(r["journeys_per_s"] for r in ours),
            journey_request_p99_ms=statistics.median(r["request_p99_ms"] for r in ours),
            journey_requests=ours[0]["requests_per_journey"],
            journey_errors=sum(r["errors"] for r in ours),
            naive_journey_per_s=statistics.median(r["journeys_per_s"] for r in theirs),
            naive_journey_errors=sum(r["errors"] for r in theirs))

    def naive_figures(self, runs: list[dict], runs_reads: list[dict],
                      reads: list[dict]) -> dict[str, float]:
        return {"naive_per_s": self.median_rate(runs),
                "naive_with_reads_per_s": self.median_rate(runs_reads),
                "naive_read_p99_ms": statistics.median(r["p99_ms"] for r in reads),
                "naive_reads_per_s": self.median_rate(reads)}

    def measure_naive(self) -> None:
        """The naive peer alone (when the pingyi phase runs, it interleaves these)."""
        if "pingyi" in self.only:
            return
        a = self.args
        runs, runs_reads, reads = [], [], []
        with self.naive_server() as base:
            for _ in range(a.runs):
                runs.append(wrk("post.lua", base, [str(self.naive_bodies()), "/vote"],
                                a.duration, a.conns))
            for _ in range(a.runs):
                v, r = self.with_reads(base, self.naive_bodies(), "/tally", "/vote")
                runs_reads.append(v)
                reads.append(r)
        self.out.update(self.naive_figures(runs, runs_reads, reads))

    def measure_flat_reads(self) -> None:
        """Turnout read p99 while votes stream in, at 1k and at 100k ballots."""
        from server.roundbase.reads import get_round
        from server.voting.rebuild import rebuild

        a = self.args
        rid = self.fresh_round("大规模测评")
        p99: dict[int, float] = {}
        with gunicorn(None, self.env, self.log) as base:
            have = 0
            for target in (a.small_round, a.big_round):
                with self.app.app_context():
                    data.bulk_ballots(get_round(rid), target - have)
                    rebuild(rid)
                have = target
                samples = []
                for _ in range(a.runs):
                    prefix = self.bodies_file(rid, self.tokens_needed())
                    _, r = self.with_reads(base, prefix, f"/api/v1/rounds/{rid}/turnout")
                    samples.append(r["p99_ms"])
                p99[target] = statistics.median(samples)
        self.big_round_id = rid
        self.out.update(read_p99_ms_1k=p99[a.small_round], read_p99_ms_100k=p99[a.big_round])

    def measure_burst(self) -> None:
        """`runs` bursts on one server, each into a fresh round (the first one into a
        server just started): medians, every error, every round's counts and the
        sizes of the batches their ballots were written in (voting/mixing.py); then
        LONE_VOTERS ballots one at a time: a lone voter's ack delay."""
        from server.core.db import db
        from server.roundbase.reads import get_round
        from server.voting import livetally
        from server.voting.groupcommit import batch_sizes

        a = self.args
        rounds = []
        with self.app.app_context():
            for _ in range(a.runs):
                rnd = get_round(self.fresh_round("瞬时并发测试"))
                rounds.append((rnd.id, [b.encode() for b in
                                        data.ballot_bodies(rnd, data.tokens(rnd, a.burst))]))
            lone_round = get_round(self.fresh_round("单人投票等待"))
            lone_bodies = [b.encode() for b in
                           data.ballot_bodies(lone_round, data.tokens(lone_round, LONE_VOTERS))]
        results = []
        with gunicorn(None, self.env, self.log) as base:
            for _, bodies in rounds:
                results.append(burst(base + "/api/v1/ballots", bodies, a.burst_conns))
            lone = lone_voter(base + "/api/v1/ballots", lone_bodies)
        match, rows_all, live_all, sizes = True, [], [], Counter()
        with self.app.app_context():
            for (rid, _), res in zip(rounds, results, strict=True):
                rows = db.session.execute(text(
                    "SELECT count(*) FROM ballots WHERE round_id = :r"), {"r": rid}).scalar()
                live = sum(livetally.read_turnout(rid).values())
                match = match and res["accepted"] == rows == live == a.burst
                rows_all.append(rows)
                live_all.append(live)
                sizes.update(batch_sizes(rid))  # each worker wrote its own within 0.2 s
            k = self.app.config["BALLOT_MIX_K"]
        mixed = batch_summary(sizes, k)
        self.out.update(burst_batches=mixed["batches"], burst_batch_p50=mixed["p50"],
                        burst_batch_p90=mixed["p90"], burst_batch_max=mixed["max"],
                        burst_batches_under_k=mixed["under_k"], mix_k=k,
                        burst_batch_sizes=f"{mixed['p50']} / {mixed['p90']} / {mixed['max']}",
                        lone_voter_ack_ms=statistics.median(lone),
                        lone_voter_ack_ms_runs=[round(x, 1) for x in lone])
        self.out.update(burst_requests=a.burst, burst_connections=a.burst_conns,
                        burst_runs=len(results),
                        burst_accepted=sum(r["accepted"] for r in results),
                        burst_errors=sum(r["errors"] for r in results),
                        burst_p50_ms=statistics.median(r["p50_ms"] for r in results),
                        burst_p99_ms=statistics.median(r["p99_ms"] for r in results),
                        burst_p99_ms_runs=[round(r["p99_ms"], 1) for r in results],
                        burst_client_cpu_ms=statistics.median(
                            r["client_cpu_ms_per_request"] for r in results),
                        burst_sql_rows=sum(rows_all), burst_redis_tally=sum(live_all),
                        burst_counts_match=match)

    def measure_hosts(self) -> None:
        """Issue 8: votes through one web host, then through two (each a gunicorn with
        the same settings, on its own port, sharing PostgreSQL and Redis) with the
        same total connections; afterwards accepted == SQL rows == Redis tally."""
        from server.voting import livetally

        a = self.args
        rid = self.fresh_round("多主机测试")
        for hosts in (1, 2):
            rates, accepted = [], 0
            with contextlib.ExitStack() as stack:
                bases = [stack.enter_context(gunicorn(None, self.env, self.log))
                         for _ in range(hosts)]
                for _ in range(a.runs):
                    prefixes = [self.bodies_file(rid, self.tokens_needed())
                                for _ in bases]
                    results = parallel_wrk(bases, prefixes, a.duration, a.conns // hosts)
                    rates.append(sum(r["per_s"] for r in results))
                    accepted += sum(r["s2xx"] for r in results)
            self.out[f"vote_per_s_{hosts}_host{'s' if hosts > 1 else ''}"] = \
                statistics.median(rates)
            self.hosts_accepted = getattr(self, "hosts_accepted", 0) + accepted
        with self.app.app_context():
            rows = db_count(rid)
            live = sum(livetally.read_turnout(rid).values())
        o = self.out
        o["two_hosts_over_one"] = o["vote_per_s_2_hosts"] / o["vote_per_s_1_host"]
        # wrk stops with up to `conns` requests in flight per run: the server still
        # commits those, but wrk never counts their answers.
        unanswered = rows - self.hosts_accepted
        o.update(hosts_accepted=self.hosts_accepted, hosts_sql_rows=rows, hosts_redis_tally=live,
                 hosts_counts_match=rows == live and 0 <= unanswered <= 2 * a.runs * a.conns)

    def measure_big(self) -> None:
        """10,000 slips; then, `--runs` times, close a fresh round of exactly
        `--big-round` ballots (bulk-written, then VACUUM ANALYZE: autovacuum's state
        after a long meeting), and the background scrub that follows the close."""
        from server.roundbase.reads import get_round
        from server.rounds.operations import close_round, wait_for_scrub
        from server.tokens.operations import issue_slips
        from server.voting.rebuild import rebuild

        with self.app.app_context():
            slips_round = get_round(self.fresh_round("万张选票打印"))
            start = time.perf_counter()
            _, pdf = issue_slips(slips_round, slips_round.categories[0].id, self.args.slips,
                                 "https://pingyi.example.com")
            self.out["slips_10k_s"] = time.perf_counter() - start
            self.out["slips_pdf_mb"] = len(pdf) / 1e6
            closes, scrubs = [], []
            for run in range(self.args.runs):
                rnd = get_round(self.fresh_round(f"十万票结束 {run + 1}"))
                data.bulk_ballots(rnd, self.args.big_round)
                rebuild(rnd.id)
                db_vacuum()
                ballots = db_count(rnd.id)
                start = time.perf_counter()
                closed = close_round(rnd)
                closes.append(time.perf_counter() - start)
                assert wait_for_scrub(600)
                scrubs.append(time.perf_counter() - start)
                assert closed.status == "closed", closed.close_problem
                assert closed.result["ballots"] == ballots == self.args.big_round
            self.out.update(close_100k_s=statistics.median(closes),
                            close_then_scrub_s=statistics.median(scrubs),
                            close_runs_s=closes, close_ballots=ballots)

    # -- report --------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        o = self.out
        o["cores"] = os.cpu_count()
        o["database"] = "postgresql" if self.db_url.startswith("postgresql") else "sqlite"
        o["redis"] = f"{self.cluster.masters}-master cluster" if self.cluster else "single node"
        if "journey_errors" in o:
            o["journey_errors_both"] = f"{o['journey_errors']}, {o['naive_journey_errors']}"
        o["server"] = (f"gunicorn uvicorn (ASGI; Flask in a thread pool), "
                       f"{self.args.workers} workers x {self.args.threads} "
                       f"threads; naive peer gthread; wrk {WRK_THREADS} threads, "
                       f"{self.args.conns} connections")
        ratios = {"vote_over_ceiling": ("vote_per_s", "ceiling_per_s"),
                  "vote_over_flask_ceiling": ("vote_per_s", "ceiling_flask_per_s"),
                  "vote_over_naive": ("vote_per_s", "naive_per_s"),
                  "vote_over_naive_with_reads": ("vote_with_reads_per_s",
                                                 "naive_with_reads_per_s"),
                  "read_p99_ratio_100k_over_1k": ("read_p99_ms_100k", "read_p99_ms_1k"),
                  "journey_over_naive": ("journey_per_s", "naive_journey_per_s")}
        for key, (num, den) in ratios.items():
            if num in o and den in o:
                o[key] = o[num] / o[den]
        return o


def parallel_wrk(bases: list[str], prefixes: list[Path], duration: float,
                 conns: int) -> list[dict[str, Any]]:
    """One wrk per host, at the same time."""
    results: list[dict[str, Any]] = [{} for _ in bases]

    def one(i: int) -> None:
        results[i] = wrk("post.lua", bases[i], [str(prefixes[i]), "/api/v1/ballots"],
                         duration, conns)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def db_vacuum() -> None:
    from server.core.db import db

    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE ballots, spent_tokens")


def db_count(round_id: int) -> int:
    from server.core.db import db

    return db.session.execute(text("SELECT count(*) FROM ballots WHERE round_id = :r"),
                              {"r": round_id}).scalar()


PHASES: dict[str, Any] = {
    "pingyi": Bench.measure_pingyi,
    "naive": Bench.measure_naive,
    "reads": Bench.measure_flat_reads,
    "burst": Bench.measure_burst,
    "hosts": Bench.measure_hosts,
    "boards": lambda bench: bench.out.update(boards.measure(bench)),
    "big": Bench.measure_big,
    "journey": Bench.measure_journey,
    "meeting": lambda bench: bench.out.update(meeting.measure(bench)),
}

ROWS = [
    ("echo on the event loop (POST /healthz/echo)", "ceiling_per_s", "/s", None),
    ("same echo through Flask (/healthz/echo-flask)", "ceiling_flask_per_s", "/s", None),
    ("vote, fresh tokens", "vote_per_s", "/s", None),
    ("vote, 10% replays + 5% unknown (answered)", "mix_answered_per_s", "/s", None),
    ("naive peer (row per request, SQL tallies)", "naive_per_s", "/s", None),
    ("vote with live reads running", "vote_with_reads_per_s", "/s", None),
    ("naive peer with live reads running", "naive_with_reads_per_s", "/s", None),
    ("turnout reads/s while votes run (pingyi)", "reads_per_s", "/s", None),
    ("tally reads/s while votes run (naive)", "naive_reads_per_s", "/s", None),
    ("read p99 while votes run (pingyi)", "read_under_load_p99_ms", "ms", None),
    ("read p99 while votes run (naive)", "naive_read_p99_ms", "ms", None),
    ("vote / echo on the loop (reference)", "vote_over_ceiling", "", None),
    ("vote / Flask echo", "vote_over_flask_ceiling", "", None),
    ("vote / naive", "vote_over_naive", "", ">= 1.5"),
    ("vote / naive, with reads", "vote_over_naive_with_reads", "", ">= 3"),
    ("turnout read p99 at 1k ballots", "read_p99_ms_1k", "ms", None),
    ("turnout read p99 at 100k ballots", "read_p99_ms_100k", "ms", None),
    ("read p99 100k / 1k", "read_p99_ratio_100k_over_1k", "", "<= 1.5"),
    ("burst errors", "burst_errors", "", "0"),
    ("burst p99", "burst_p99_ms", "ms", "<= 200"),
    ("burst accepted == SQL == Redis", "burst_counts_match", "", "true"),
    ("burst client's own CPU per request", "burst_client_cpu_ms", "ms", None),
    ("burst: batches written", "burst_batches", "", None),
    ("burst: batch size p50 / p90 / max", "burst_batch_sizes", "", None),
    ("burst: batches under BALLOT_MIX_K (waited)", "burst_batches_under_k", "", None),
    ("lone voter's ack (median of 5)", "lone_voter_ack_ms", "ms", "~ BALLOT_MIX_WAIT_S"),
    ("meeting burst: voters x forms, errors", "meeting_errors", "", "0"),
    ("meeting burst: ballot p99", "meeting_p99_ms", "ms", None),
    ("meeting burst: ballots/s", "meeting_ballots_per_s", "/s", None),
    ("meeting: accepted == SQL == Redis per form", "meeting_counts_match", "", "true"),
    ("vote, one web host", "vote_per_s_1_host", "/s", None),
    ("vote, two web hosts (same machine)", "vote_per_s_2_hosts", "/s", None),
    ("two hosts / one host", "two_hosts_over_one", "", None),
    ("hosts: SQL == Redis, every 2xx in SQL", "hosts_counts_match", "", "true"),
    ("board top-50 read p99, 100 entries", "board_read_p99_ms_100", "ms", None),
    ("board top-50 read p99, 100,000 entries", "board_read_p99_ms_100k", "ms", None),
    ("board read p99 100k / 100", "board_read_p99_ratio", "", "flat"),
    ("member rank read p99 100k / 100", "member_read_p99_ratio", "", "flat"),
    ("voter journeys/s (page, static, form, ballot)", "journey_per_s", "/s", None),
    ("naive peer's same journeys/s", "naive_journey_per_s", "/s", None),
    ("journeys / naive", "journey_over_naive", "", None),
    ("journey errors (pingyi, naive)", "journey_errors_both", "", "0, 0"),
    ("journey request p99 (pingyi)", "journey_request_p99_ms", "ms", None),
    ("close of 100k ballots (fresh round)", "close_100k_s", "s", "<= 3"),
    ("close + scrub (VACUUM FULL, WAL switch)", "close_then_scrub_s", "s", None),
    ("10,000 slips (tokens + PDF)", "slips_10k_s", "s", "<= 30"),
]


def print_table(o: dict[str, Any]) -> None:
    print(f"\npingyi bench — {o['cores']} cores, {o['database']}, Redis {o['redis']}, "
          f"{o['server']}")
    print(f"{'measure':48} {'value':>12}  target")
    for label, key, unit, target in ROWS:
        if key not in o:
            continue
        v = o.get(key)
        shown = f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}"
        print(f"{label:48} {shown:>12}  {target or ''}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness runs")
    p.add_argument("--sqlite", action="store_true", help="use SQLite even if PostgreSQL is up")
    p.add_argument("--redis-cluster", action="store_true",
                   help="start a 3-master Redis Cluster on loopback ports and use it")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--read-conns", type=int, default=8)
    p.add_argument("--read-delay-ms", type=int, default=40,
                   help="each read connection's pause between reads (8 x 40 ms: <= 200 reads/s)")
    # config/gunicorn.conf.py's defaults
    p.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    p.add_argument("--threads", type=int, default=12)
    p.add_argument("--max-rate", type=int, default=4000, help="tokens prepared per second of run")
    p.add_argument("--small-round", type=int, default=1000)
    p.add_argument("--big-round", type=int, default=100000)
    p.add_argument("--burst", type=int, default=2000)
    p.add_argument("--burst-conns", type=int, default=500)
    p.add_argument("--slips", type=int, default=10000)
    p.add_argument("--journeys", type=int, default=1000, help="voter journeys per run")
    p.add_argument("--journey-voters", type=int, default=100,
                   help="voters on their journeys at once (one connection each)")
    p.add_argument("--meeting-voters", type=int, default=500)
    p.add_argument("--meeting-forms", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "bench/out/latest.json")
    p.add_argument("--only", default=",".join(PHASES),
                   help=f"comma-separated phases to run (default all: {','.join(PHASES)})")
    args = p.parse_args()
    if args.smoke:
        args.runs, args.duration, args.max_rate = 1, 1.0, 1500
        args.small_round, args.big_round = 100, 1000
        args.burst, args.burst_conns, args.slips = 200, 50, 100
        args.journeys, args.journey_voters = 100, 20
        args.meeting_voters = 50
        args.workers, args.threads = 2, 4
    only = [p for p in args.only.split(",") if p]
    unknown = set(only) - set(PHASES)
    if unknown:
        p.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    bench = Bench(args)
    bench.only = only
    try:
        bench.reset()
        for phase in PHASES:
            if phase in only:
                PHASES[phase](bench)
    finally:
        if bench.cluster:
            bench.cluster.stop()
    out = bench.report()
    print_table(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
