"""The WeChat mini-program fake itself, over real HTTP: inputs checked as documented,
the documented error codes produced (what the other tests rely on)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
import requests
from PIL import Image

from bot.wechat_fake import running_fake
from bot.wechat_fake.miniprogram import (
    FAKE_APPID,
    FAKE_SECRET,
    expire_access_tokens,
    mint_login_code,
)


@pytest.fixture
def wx():
    with running_fake() as (base, state):
        yield base, state


def _token(base: str) -> str:
    res = requests.post(f"{base}/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": FAKE_APPID, "secret": FAKE_SECRET},
        timeout=5).json()
    assert res["expires_in"] > 300
    return res["access_token"]


def test_access_tokens(wx):
    base, state = wx
    get = lambda **p: requests.get(f"{base}/cgi-bin/token", params=p, timeout=5).json()  # noqa: E731
    assert get(grant_type="client_credential", appid=FAKE_APPID)["errcode"] == 41004
    assert get(grant_type="client_credential", appid="wxnope", secret="x")["errcode"] == 40013
    assert get(grant_type="client_credential", appid=FAKE_APPID, secret="x")["errcode"] == 40125
    assert get(grant_type="password", appid=FAKE_APPID, secret=FAKE_SECRET)["errcode"] == 40002
    classic = get(grant_type="client_credential", appid=FAKE_APPID, secret=FAKE_SECRET)
    assert classic["expires_in"] == 7200 and classic["access_token"]
    # stable_token: the same token until forced; forcing invalidates the old one.
    first, second = _token(base), _token(base)
    assert first == second
    forced = requests.post(f"{base}/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": FAKE_APPID, "secret": FAKE_SECRET,
        "force_refresh": True}, timeout=5).json()["access_token"]
    assert forced != first
    res = requests.post(f"{base}/wxa/msg_sec_check", params={"access_token": first},
                        json={"content": "x"}, timeout=5).json()
    assert res["errcode"] == 40001
    expire_access_tokens(state)
    res = requests.post(f"{base}/wxa/msg_sec_check", params={"access_token": forced},
                        json={"content": "x"}, timeout=5).json()
    assert res["errcode"] == 42001
    assert requests.post(f"{base}/wxa/msg_sec_check", json={"content": "x"},
                         timeout=5).json()["errcode"] == 41001


def test_jscode2session(wx):
    base, state = wx

    def call(code, **over):
        params = {"appid": FAKE_APPID, "secret": FAKE_SECRET, "js_code": code,
                  "grant_type": "authorization_code", **over}
        return requests.get(f"{base}/sns/jscode2session", params=params, timeout=5).json()

    code = mint_login_code(state, "o_test_00000000000000000000000")
    assert call(code, appid="")["errcode"] == 41002
    assert call(code, secret="wrong")["errcode"] == 40125
    assert call(code, grant_type="client_credential")["errcode"] == 40002
    assert call("")["errcode"] == 41008
    assert call("made-up")["errcode"] == 40029
    ok = call(code)
    assert ok["openid"] == "o_test_00000000000000000000000" and ok["session_key"]
    assert call(code)["errcode"] == 40163
    state.settings["mp_rate_limits"] = {"jscode2session": 1}
    assert "openid" in call(mint_login_code(state))
    limited = call(mint_login_code(state))
    assert limited["errcode"] == 45011 and "minute-quota" in limited["errmsg"]


def test_getwxacodeunlimit(wx):
    base, state = wx
    token = _token(base)

    def call(body, token=token):
        return requests.post(f"{base}/wxa/getwxacodeunlimit", params={"access_token": token},
                             json=body, timeout=5)

    assert call({"scene": "x" * 33}).json()["errcode"] == 40169
    assert call({"page": "pages/a/a"}).json()["errcode"] == 40169
    assert call({"scene": "中文"}).json()["errcode"] == 40129
    assert call({"scene": "ok", "page": "/pages/a/a"}).json()["errcode"] == 41030
    assert call({"scene": "ok", "env_version": "beta"}).json()["errcode"] == 40097
    state.settings["mp_pages"] = ["pages/vote/vote"]
    assert call({"scene": "ok", "page": "pages/other/other"}).json()["errcode"] == 41030
    assert call({"scene": "ok", "page": "pages/other/other", "check_path": False}) \
        .headers["Content-Type"] == "image/jpeg"
    assert call({"scene": "ok"}, token="bad").json()["errcode"] == 40001
    scene = "A" * 32
    res = call({"scene": scene, "page": "pages/vote/vote", "width": 280})
    assert res.status_code == 200 and res.headers["Content-Type"] == "image/jpeg"
    img = Image.open(io.BytesIO(res.content))
    assert img.format == "JPEG" and img.size == (280, 280)
    if shutil.which("zbarimg"):
        out = subprocess.run(["zbarimg", "-q", "--raw", "-"], input=res.content,
                             capture_output=True, check=True).stdout.decode().strip()
        assert out == f"pages/vote/vote?scene={scene}"
    state.settings["mp_fail_next"] = {"getwxacodeunlimit": 45009}
    assert call({"scene": "ok"}).json()["errcode"] == 45009
    assert call({"scene": "ok"}).status_code == 200  # once only
    state.settings["mp_rate_limits"] = {"getwxacodeunlimit": 0}  # 0: no limit
    assert call({"scene": "ok"}).headers["Content-Type"] == "image/jpeg"


def test_msg_sec_check_v2_and_v1(wx):
    base, state = wx
    token = _token(base)
    openid = "o_member_000000000000000000000"
    requests.get(f"{base}/sns/jscode2session", timeout=5, params={
        "appid": FAKE_APPID, "secret": FAKE_SECRET, "grant_type": "authorization_code",
        "js_code": mint_login_code(state, openid)})

    def call(**body):
        return requests.post(f"{base}/wxa/msg_sec_check", params={"access_token": token},
                             json=body, timeout=5).json()

    ok = call(version=2, openid=openid, scene=2, content="建议加强学习")
    assert ok["errcode"] == 0 and ok["result"] == {"suggest": "pass", "label": 100}
    assert ok["trace_id"]
    risky = call(version=2, openid=openid, scene=2, content="我们去赌博吧")
    assert risky["errcode"] == 0 and risky["result"]["suggest"] == "risky"
    assert risky["detail"][1]["keyword"] == "赌博"
    assert call(version=2, openid=openid, scene=2, content="此条待审核")["result"]["suggest"] \
        == "review"
    assert call(version=2, openid="o_never_seen", scene=2, content="x")["errcode"] == 40003
    assert call(version=2, openid=openid, scene=9, content="x")["errcode"] == 40129
    assert call(version=2, openid=openid, scene=2, content="")["errcode"] == 44002
    assert call(version=2, openid=openid, scene=2, content="长" * 2501)["errcode"] == 47001
    # version 1: errcode 87014 for risky content
    assert call(content="代开发票")["errcode"] == 87014
    assert call(content="正常内容")["errcode"] == 0
    # the fake can answer risky v2 content with 87014 too
    state.settings["mp_sec_check_errcode"] = 87014
    assert call(version=2, openid=openid, scene=2, content="赌博")["errcode"] == 87014
    state.settings["mp_rate_limits"] = {"msg_sec_check": 1}
    assert call(version=2, openid=openid, scene=2, content="好")["errcode"] == 0
    assert call(version=2, openid=openid, scene=2, content="好")["errcode"] == 45011
