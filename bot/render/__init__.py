"""Rendering a leaderboard or a round notice: WeCom markdown, plain text, a PNG card."""
