"""WeChat Work group robot (群机器人): POST .../cgi-bin/webhook/send?key=KEY.

wechatpy does not wrap it, so this is plain requests. The key is the robot's
only credential: it is sent in the query string as WeCom requires, never
logged (bot/redact.py), and kept encrypted at rest. Each request uses a fresh
connection ("Connection: close"), so a stale keep-alive connection can never
turn a message that was not sent into one that "may have been delivered".
"""

from __future__ import annotations

from typing import Any

import requests

from bot import errors, vault
from bot.channels import Channel, register
from bot.config import api_base, setting


@register
class WeComWebhook(Channel):
    name = "wecom_webhook"
    label = "企业微信群机器人"
    secret_label = "群机器人 Webhook 地址"  # noqa: S105 - a label, not a password
    secret_help = "在企业微信群里“添加群机器人”后复制的 Webhook 地址（或其中 key= 后面的部分）"  # noqa: S105

    def __init__(self, secret: str | None = None) -> None:
        super().__init__(secret)
        self.http = requests.Session()
        self.http.headers.update({"Connection": "close",
                                  "Content-Type": "application/json; charset=utf-8"})

    @classmethod
    def clean_secret(cls, raw: str) -> str:
        return vault.webhook_key(raw)

    @staticmethod
    def body(part: dict[str, Any]) -> dict[str, Any]:
        kind = part["msgtype"]
        if kind in ("markdown", "text"):
            return {"msgtype": kind, kind: {"content": part["content"]}}
        if kind == "image":
            return {"msgtype": "image", "image": {"base64": part["base64"], "md5": part["md5"]}}
        raise ValueError(f"a group robot cannot send {kind!r}")

    def send(self, part: dict[str, Any]) -> dict[str, Any]:
        import json

        timeout = float(setting("BOT_HTTP_TIMEOUT_S"))
        data = json.dumps(self.body(part), ensure_ascii=False).encode("utf-8")
        try:
            resp = self.http.post(f"{api_base()}/cgi-bin/webhook/send",
                                  params={"key": self.secret}, data=data, timeout=timeout)
        except requests.RequestException as exc:
            raise errors.from_requests(exc) from None
        if resp.status_code != 200:
            raise errors.from_status(resp.status_code)
        try:
            answer = resp.json()
        except ValueError:
            raise errors.Uncertain(f"企业微信的应答无法识别：消息可能已经送达。{errors.CHECK_GROUP}"
                                   ) from None
        code = int(answer.get("errcode", -1))
        if code != 0:
            raise errors.rejected(code, str(answer.get("errmsg", "")))
        return answer

    def close(self) -> None:
        self.http.close()
