"""WeCom markdown as HTML, for the console's preview (escaped first, then the subset)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_FONT = re.compile(r"&lt;font color=&#34;(info|comment|warning)&#34;&gt;(.*?)&lt;/font&gt;")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEAD = re.compile(r"^(#{1,6}) (.*)$")


def to_html(md: str) -> Markup:
    out = []
    for line in md.split("\n"):
        h = str(escape(line))
        h = _FONT.sub(r'<span class="wc-\1">\2</span>', h)
        h = _BOLD.sub(r"<strong>\1</strong>", h)
        h = _LINK.sub(r'<a href="\2" rel="noopener noreferrer">\1</a>', h)
        m = _HEAD.match(h)
        if m:
            out.append(f'<div class="wc-h wc-h{len(m.group(1))}">{m.group(2)}</div>')
        elif h.startswith("&gt; "):
            out.append(f'<div class="wc-quote">{h[5:]}</div>')
        else:
            out.append(f"<div>{h or '&nbsp;'}</div>")
    return Markup("".join(out))  # noqa: S704 - built from escaped text
