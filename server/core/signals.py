"""Signals between features (blinker, as Flask's own): a sender does not know who listens.

A feature lower in the layering (rounds) announces what happened; features above it
(the mini-program, the bot) connect receivers in their `init_app`. That keeps the
imports flowing one way: `server` never imports `bot`, rounds never import the
mini-program. Receivers connect once per process (blinker dedups a receiver).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

round_closing = _signals.signal("round-closing", doc="""
Sent by close with the round's id inside close's transaction, after the ballots were
shuffled and before the commit: a feature that keeps per-round data beside the ballots
(comments, mini-program slips) rewrites or drops it there, committed with the close or
not at all. A receiver that raises aborts the close.
""")

round_closed = _signals.signal("round-closed", doc="""
Sent with the Round once its close is committed (status `closed`): e.g. the bot queues
the round's closed notice. The close has happened whatever a receiver does, so a
receiver must not raise.
""")

comment_checking = _signals.signal("comment-checking", doc="""
Sent with a ballot's comment (normalized text) and `content_pass=` before the comment
is accepted: e.g. the mini-program requires a pass from its content check. A receiver
refuses the comment by raising an ApiError; nothing has changed yet.
""")

tokens_issued = _signals.signal("tokens-issued", doc="""
Sent with the round's id and `pairs=` [(token hash, category id)] once newly issued
tokens are committed: the live tally (server/voting) takes them in if it holds the
round. The tokens exist whatever a receiver does; an error reaches the issuer.
""")

round_publishing = _signals.signal("round-publishing", doc="""
Sent with the round's id inside publish's transaction, once the round's row is held
(its status set to `published`, not yet committed): a feature whose data must be
complete before results go out (paper ballots entered twice alike) refuses by raising
an ApiError, and publish rolls back; no entry can slip in after the check.
""")
