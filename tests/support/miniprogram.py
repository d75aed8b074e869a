"""Helpers of the mini-program tests: the WeChat fake over real HTTP, staff sign-in."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from bot.wechat_fake import FakeState, running_fake
from bot.wechat_fake.miniprogram import FAKE_APPID, FAKE_SECRET, mint_login_code
from bot.wechat_fake.oauth import FAKE_OA_APPID, FAKE_OA_SECRET
from tests.conftest import csrf_token
from tests.factories import organizer

PASSWORD = "correct horse 1"


def point_at_fake(app: Flask, base: str, **extra: Any) -> None:
    """The mini-program and the official account's web authorization, both at the fake."""
    app.config.update(WECHAT_MINIPROGRAM_APPID=FAKE_APPID, WECHAT_MINIPROGRAM_SECRET=FAKE_SECRET,
                      WECHAT_MINIPROGRAM_API_BASE=base, WECHAT_OA_APPID=FAKE_OA_APPID,
                      WECHAT_OA_SECRET=FAKE_OA_SECRET, WECHAT_OA_AUTHORIZE_BASE=base + "/connect/",
                      WECHAT_OA_API_BASE=base, **extra)


@contextlib.contextmanager
def wechat_fake(app: Flask) -> Iterator[tuple[str, FakeState]]:
    """The WeChat fake on a loopback port, and the app pointed at it (for a `fake` fixture)."""
    with running_fake() as (base, state):
        point_at_fake(app, base)
        yield base, state


def console_login(client: Any, username: str = "organizer") -> None:
    page = client.get("/console/login")
    res = client.post("/console/login", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": username,
        "password": PASSWORD})
    assert res.status_code == 302, res.get_data(as_text=True)[:500]


def binding_code(client: Any) -> str:
    """Generate a binding code in the console page (the client is signed in there)."""
    page = client.get("/console/wechat")
    assert page.status_code == 200
    res = client.post("/console/wechat/binding-code",
                      data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert res.status_code == 200
    m = re.search(r"<span>([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})</span>",
                  res.get_data(as_text=True))
    assert m, "no binding code on the page"
    return m.group(1)


def make_staff(app: Flask, username: str = "organizer", role: str = "organizer") -> str:
    """A staff user; returns its API key."""
    with app.app_context():
        _, key = organizer(username, role=role)
    return key


def wechat_session(app: Flask, state: FakeState, username: str = "organizer",
                   role: str = "organizer", openid: str | None = None) -> dict[str, Any]:
    """Sign a new staff user in through the mini-program: console binding, then login."""
    make_staff(app, username, role)
    console = app.test_client()
    console_login(console, username)
    code = binding_code(console)
    openid = openid or f"o_{username}_openid_000000000"
    res = app.test_client().post("/api/v1/auth/wechat", json={
        "code": mint_login_code(state, openid), "binding_code": code})
    assert res.status_code == 200, res.json
    return {**res.json, "openid": openid}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


APPRAISAL = {
    "form": "appraisal",
    "title": "2026年度领导班子民主测评",
    "subjects": [{"name": "领导班子", "note": "整体"}, {"name": "王建国", "note": "书记"}],
    "categories": [{"name": "公司领导", "expected_count": 5, "weight": 0.3},
                   {"name": "中层干部", "expected_count": 10, "weight": 0.7}],
    "results": {"min_turnout": 0},
}


def new_round(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    res = client.post("/api/v1/rounds", json={**APPRAISAL, **extra}, headers=headers)
    assert res.status_code == 201, res.json
    return res.json


def answers_for(form: dict[str, Any], grade: str = "excellent") -> dict[str, Any]:
    """Valid appraisal answers for a ballot form."""
    crits = [c["key"] for c in form["form"]["criteria"]]
    return {str(s["id"]): dict.fromkeys(crits, grade) for s in form["subjects"]}


def zbar(image: bytes) -> list[str]:
    """The codes zbarimg reads in an image (skips the test without zbar-tools)."""
    import shutil
    import subprocess

    if not shutil.which("zbarimg"):
        pytest.skip("zbarimg not installed")
    out = subprocess.run(["zbarimg", "-q", "--raw", "-"], input=image, capture_output=True,
                         check=False).stdout.decode()
    return [line for line in out.splitlines() if line]
