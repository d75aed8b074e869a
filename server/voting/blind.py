"""Blind-signed tokens on the ballot path (session-QR rounds, server/tokens/blind.py).

A token the member's page made and had blind-signed was never issued: the server
meets it first at its ballot form or its ballot, with its signature. `admit`
checks the signature (the key that verifies it gives the category) and lets the
token into the round's live state as if it had been issued; its `tokens` row is
written with its spent row, in the ballot's group commit (voting/groupcommit.py),
so nothing about a blind token is stored apart from the ballot that spends it.
"""

from __future__ import annotations

from typing import Any

from server.core.redis import run_script
from server.tokens import blind
from server.voting import livetally

# KEYS: tok spent; ARGV: hash category. An unspent token that is not yet there.
ADMIT = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def admit(round_id: int, token_hash: str, raw_token: Any, raw_signature: Any) -> int:
    """The token's category once its signature verifies (else 403
    token_signature_invalid); the token is then known to the round's live state."""
    category_id = blind.verify(round_id, raw_token, raw_signature)
    if livetally.has_state(round_id):
        k = livetally.keys(round_id)
        run_script(ADMIT, [k.tok, k.spent], [token_hash, category_id])
    return category_id
