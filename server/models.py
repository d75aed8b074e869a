"""Import every model so metadata (create_all, Alembic) sees all tables."""

from server.accounts.models import ApiKey, AuditEntry, User
from server.organization.models import Branch, Committee, Member, PartyGroup
from server.rounds.models import Round, Subject, VoterCategory
from server.tokens.models import SpentToken, Token
from server.voting.models import Ballot

__all__ = [
    "ApiKey", "AuditEntry", "Ballot", "Branch", "Committee", "Member", "PartyGroup", "Round",
    "SpentToken", "Subject", "Token", "User", "VoterCategory",
]
