"""Every Lua script touches one Redis Cluster slot (checked without a cluster).

Three checks that together cover every script the code runs:
1. the scripts are found: every module under server/ and bot/ that runs Lua is
   scanned, and each script reaches keys only through KEYS[...] (a key name
   built inside Lua could land in another slot unseen by the client);
2. the key builders: every key of one round (or one leaderboard scope) hashes
   to the same slot, for many ids;
3. at run time: a spy on redis-py's Script records the KEYS of every script
   call made by a full round (form, votes, refusals, rebuild, close) and fails
   if one call's keys span two slots. It runs on whatever Redis the suite uses.
tests/test_cluster.py then runs the same scripts on a real cluster.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from redis.cluster import ClusterPipeline, key_slot
from redis.commands.core import Script

from server.roundbase.reads import get_round
from server.rounds.operations import close_round
from server.tokens.codec import parse_token
from server.voting import livetally
from server.voting.rebuild import rebuild
from tests.factories import make_round, valid_answers

ROOT = Path(__file__).resolve().parents[1]
RUNS_LUA = re.compile(r"run_script\(|register_script\(|\.eval(?:sha)?\(|[\"']EVAL(?:SHA)?[\"']")
RUNNER = "server/core/redis.py"  # runs the scripts of other modules; holds none itself
CALL = re.compile(r"redis\.p?call\(\s*'([A-Za-z]+)'\s*(?:,\s*([^,)]+))?(?:,\s*([^,)]+))?")
KEYLESS = {"TIME", "PING", "ECHO"}
TWO_KEYS = {"RENAME", "RENAMENX", "SMOVE", "LMOVE", "RPOPLPUSH", "COPY"}
ALL_KEYS = {"DEL", "UNLINK", "EXISTS", "MGET", "SINTER", "SUNION", "SDIFF", "TOUCH"}


def lua_modules() -> dict[str, list[str]]:
    """{module path: [Lua script texts]} for every module that runs Lua."""
    found: dict[str, list[str]] = {}
    for path in sorted([*ROOT.glob("server/**/*.py"), *ROOT.glob("bot/**/*.py")]):
        source = path.read_text(encoding="utf-8")
        if not RUNS_LUA.search(source) or str(path.relative_to(ROOT)) == RUNNER:
            continue
        scripts = [node.value for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and "redis.call(" in node.value]
        found[str(path.relative_to(ROOT))] = scripts
    return found


def undeclared_keys(script: str) -> list[str]:
    """Key arguments of redis.call() that are not KEYS[...] (or a local taken from KEYS)."""
    aliases: set[str] = set()
    for names, values in re.findall(r"local\s+([\w\s,]+?)\s*=\s*([^\n]+)", script):
        if all(v.strip().startswith("KEYS[") for v in values.split(",")):
            aliases.update(n.strip() for n in names.split(","))

    def is_key(arg: str | None) -> bool:
        arg = (arg or "").strip()
        return arg.startswith("KEYS[") or arg in aliases

    bad = []
    for m in CALL.finditer(script):
        cmd, first, second = m.group(1).upper(), m.group(2), m.group(3)
        if cmd in KEYLESS or (first or "").strip().startswith("unpack(KEYS"):
            continue  # unpack(KEYS, i, j): every argument is one of KEYS
        checked = [first] + ([second] if cmd in TWO_KEYS | ALL_KEYS and second else [])
        bad += [f"{cmd} {a.strip()}" for a in checked if not is_key(a)]
    return bad


def test_every_lua_script_reaches_keys_only_through_KEYS():
    modules = lua_modules()
    assert "server/voting/livetally.py" in modules, "the live tally's scripts were not found"
    for path, scripts in modules.items():
        assert scripts, f"{path} runs Lua but no script text was found in it"
        for script in scripts:
            assert not undeclared_keys(script), (path, undeclared_keys(script), script)


def test_the_scanner_catches_a_key_built_in_lua():
    assert undeclared_keys("redis.call('GET', '{r:1}:' .. ARGV[1])")
    assert undeclared_keys("local k = ARGV[1]\nredis.call('HSET', k, 'a', 1)")
    assert undeclared_keys("redis.call('RENAME', KEYS[1], ARGV[2])")
    assert not undeclared_keys("local a, b = KEYS[1], KEYS[2]\nredis.call('RENAME', a, b)")
    assert not undeclared_keys("redis.call('DEL', unpack(KEYS, 6, 5 + n))")
    assert undeclared_keys("redis.call('DEL', unpack(ARGV))")


@pytest.mark.parametrize("round_id", [1, 2, 7, 42, 999, 65536, 10**9])
def test_every_key_of_a_round_shares_one_slot(round_id):
    k = livetally.keys(round_id)
    names = [k.state, k.tok, k.spent, k.inflight, k.turnout, k.rebuild_lock,
             k.pending("ab" * 32), k.tally(3), k.tally(12345)]
    assert {key_slot(n.encode()) for n in names} == {key_slot(livetally.tag(round_id).encode())}


def test_every_key_of_a_leaderboard_scope_shares_one_slot():
    boards = pytest.importorskip("server.points.boards")
    for kind, scope_id in [("b", 1), ("b", 77), ("c", 1), ("c", 12345)]:
        scope = boards.Scope(kind, scope_id, 2026)
        names = [*scope.keys(), *(f"{k}:tmp" for k in scope.keys()),
                 *(scope.meta(w) for w in ("state", "applied", "dirty", "lock", "tmp:applied"))]
        assert len({key_slot(n.encode()) for n in names}) == 1, (scope, names)


@pytest.fixture
def script_calls(monkeypatch):
    """Every (script text, KEYS) a script is run with: redis-py Scripts, and the
    EVALs that livetally queues on Redis Cluster pipelines."""
    calls: list[tuple[str, list[str]]] = []
    original = Script.__call__

    def spy(self, keys=None, args=None, client=None):
        text = self.script.decode() if isinstance(self.script, bytes) else self.script
        calls.append((text, list(keys or [])))
        return original(self, keys=keys, args=args, client=client)

    def pipeline_spy(self, *args, **options):  # scripts sent with the call (cluster pipelines)
        if str(args[0]).upper() == "EVAL":
            calls.append((args[1], [str(k) for k in args[3:3 + int(args[2])]]))
        return original_pipeline(self, *args, **options)

    original_pipeline = ClusterPipeline.execute_command
    monkeypatch.setattr(Script, "__call__", spy)
    monkeypatch.setattr(ClusterPipeline, "execute_command", pipeline_spy)
    return calls


def test_every_script_call_of_a_round_uses_one_slot(app, client, runner, script_calls):
    with app.app_context():
        rnd, tokens = make_round("appraisal", tokens_per_category=3)
        rid = rnd.id
        flat = [t for ts in tokens.values() for t in ts]
        answers = valid_answers(rnd)
    assert client.post("/api/v1/ballot-form", json={"token": flat[0]}).status_code == 200
    for token in flat[:4]:
        assert client.post("/api/v1/ballots", json={"token": token, "answers": answers}
                           ).status_code == 201
    assert client.post("/api/v1/ballots", json={"token": flat[0], "answers": answers}
                       ).status_code == 409
    # Redis lost the spend of flat[1]: the claim passes, SQL refuses, the claim is released.
    _, lost = parse_token(flat[1])
    with app.app_context():
        k = livetally.keys(rid)
        cat = livetally.get_redis().hget(k.tok, parse_token(flat[5])[1])
        livetally.get_redis().srem(k.spent, lost)
        livetally.get_redis().hset(k.tok, lost, cat)
    res = client.post("/api/v1/ballots", json={"token": flat[1], "answers": answers})
    assert res.status_code == 409 and res.json["error"]["code"] == "token_spent"
    assert runner.invoke(args=["tally", "rebuild", str(rid)]).exit_code == 0
    with app.app_context():
        livetally.drop(rid, [c.id for c in get_round(rid).categories])
        rebuild(rid)
        assert close_round(get_round(rid)).result["ballots"] == 4

    ran = {text for text, _ in script_calls}
    for name in ("CLAIM_MANY", "SETTLE_MANY", "PEEK"):
        assert getattr(livetally, name) in ran, f"livetally.{name} never ran"
    for text, keys in script_calls:
        slots = {key_slot(k.encode()) for k in keys}
        assert len(slots) <= 1, f"script {text[:60]!r} called with keys in {len(slots)} slots: {keys}"
