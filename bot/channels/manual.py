"""Plain WeChat groups (微信群) have no API for bots: the "manual share" channel.

Publishing prepares what the secretary forwards by hand: the PNG card, a short
text, and a link to the public mobile leaderboard page (bot/share.py), which
shows the standings as members may see them (nothing while the board is
hidden; the frozen standings while it is frozen). "Sent" here means "ready to
forward"; the history says so.
"""

from __future__ import annotations

from typing import Any

from bot.channels import Channel, register


@register
class ManualShare(Channel):
    name = "manual"
    label = "微信群（书记手动转发）"
    formats = ("image", "text")
    default_formats = ("image", "text")
    rate_limited = False

    def send(self, part: dict[str, Any]) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ready to forward", "manual": True}
