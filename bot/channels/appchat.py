"""WeChat Work app chat (应用群聊): wechatpy's `client.appchat.send` to a chat id.

The chat must have been created by this app (appchat/create); the access token
is shared through Redis (bot/wecom.py). Images go up as temporary media first
(`media/upload`, which sends nothing to anyone), then out by media_id.
"""

from __future__ import annotations

import base64
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from bot import errors, vault
from bot.channels import Channel, register
from bot.wecom import app_client


@register
class WeComAppChat(Channel):
    name = "wecom_appchat"
    label = "企业微信应用群聊"
    secret_label = "群聊 ID（chatid）"  # noqa: S105 - a label, not a password
    secret_help = "由本系统的企业微信应用创建的群聊 ID（字母和数字，最长 32 位）"  # noqa: S105

    def __init__(self, secret: str | None = None) -> None:
        super().__init__(secret)
        self._client: Any = None

    @classmethod
    def clean_secret(cls, raw: str) -> str:
        return vault.chat_id(raw)

    def client(self) -> Any:
        if self._client is None:
            self._client = app_client()
        return self._client

    def send(self, part: dict[str, Any]) -> dict[str, Any]:
        try:
            kind = part["msgtype"]
            if kind in ("markdown", "text"):
                return self.client().appchat.send(self.secret, kind, content=part["content"])
            if kind == "image":
                media_id = self._upload(base64.b64decode(part["base64"]))
                return self.client().appchat.send(self.secret, "image", media_id=media_id)
            raise ValueError(f"an app chat cannot send {kind!r}")
        except WeChatClientException as exc:
            if exc.errcode is None:  # an HTTP error status
                status = getattr(exc.response, "status_code", 500) or 500
                raise errors.from_status(int(status)) from None
            raise errors.rejected(int(exc.errcode), str(exc.errmsg or "")) from None
        except requests.RequestException as exc:
            raise errors.from_requests(exc) from None
        except TimeoutError:
            raise errors.NotDelivered("等待获取企业微信 access_token 超时，稍后自动重试") from None

    def _upload(self, png: bytes) -> str:
        """Temporary media for the image; a failed upload delivered nothing to anyone."""
        try:
            media = self.client().media.upload("image", ("card.png", png, "image/png"))
        except requests.RequestException:
            raise errors.NotDelivered("上传图片到企业微信失败（网络问题），稍后自动重试") from None
        return str(media["media_id"])

    def close(self) -> None:
        if self._client is not None:
            self._client._http.close()
