"""Chat channels, one class each with the same `send()` (as Redash's destinations).

A channel knows how to carry one message part (markdown, text, image) to one
chat, which secret it needs (and how to check what a secretary pastes), and
which formats it can carry. `get(name)` picks a class from the registry;
`open_channel(target)` decrypts the target's secret and makes an instance.

`send(part)` returns WeCom's answer on success and raises one of
bot.errors.Rejected / NotDelivered / Uncertain otherwise.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, ClassVar

from server.core.errors import ApiError

REGISTRY: dict[str, type[Channel]] = {}


class Channel:
    name: ClassVar[str]
    label: ClassVar[str]
    secret_label: ClassVar[str] = ""  # empty: the channel needs no secret
    secret_help: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ("markdown", "text", "image")
    default_formats: ClassVar[tuple[str, ...]] = ("image", "markdown")
    rate_limited: ClassVar[bool] = True  # WeCom's 20 messages a minute apply

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret

    @classmethod
    def clean_secret(cls, raw: str) -> str | None:
        """The secret to store, from what was typed (ApiError if it cannot be right)."""
        return None

    def send(self, part: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (a channel instance serves one delivery run)."""


def register(cls: type[Channel]) -> type[Channel]:
    REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Channel]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ApiError("unknown_channel", "不支持该推送方式", f"no channel {name!r}", 422,
                       "channel") from None


def open_channel(target: Any) -> Channel:
    from bot import vault

    cls = get(target.channel)
    secret = vault.decrypt(target.secret_enc) if target.secret_enc else None
    return cls(secret)


def image_part(png: bytes) -> dict[str, Any]:
    """An image message part as WeCom's group robot wants it: base64 + md5 of the raw bytes."""
    return {"msgtype": "image", "base64": base64.b64encode(png).decode(),
            "md5": hashlib.md5(png).hexdigest()}  # noqa: S324 - WeCom's integrity field


def choices() -> list[tuple[str, str]]:
    return [(name, cls.label) for name, cls in REGISTRY.items()]


# Registered in the order the console offers them.
from bot.channels import webhook  # noqa: E402,F401,I001
from bot.channels import appchat  # noqa: E402,F401
from bot.channels import manual  # noqa: E402,F401
