"""The leaderboard bot: renders boards and notices, carries them to group chats.

    content.py     what is posted (a board as members see it, a round notice)
    render/        WeCom markdown and text within byte limits, the PNG card
    channels/      one class per channel with send(): group robot, app chat, manual share
    outbox.py      the durable outbox: at most once per (chat, board, period, edition)
    publishing.py  previews, publishing, what is due (`pingyi bot run-due`)
    callback.py    the WeCom app's callback (排名 / 积分 / 帮助 → commands.py)
    share.py       public share links (mobile page and card) for plain WeChat groups
    pages.py       the console screens; cli.py the `pingyi bot` commands
    wechat_fake/   a local fake of the WeChat and WeChat Work APIs (tests, demo)
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    import bot.models  # noqa: F401  (register the bot's tables with the metadata)
    from bot import callback, publishing, redact, share, views
    from bot.render.preview_html import to_html
    from server.core import signals
    from server.core.security import csrf

    redact.install()
    csrf.exempt(callback.bp)
    app.register_blueprint(callback.bp)
    app.register_blueprint(share.bp)
    app.register_blueprint(views.bp)
    app.add_template_filter(to_html, "wecom_md")
    signals.round_closed.connect(publishing.on_round_closed)
