"""Import every server model so metadata (create_all, Alembic) sees all tables.

The bot's tables are registered by bot.init_app (server never imports bot).
"""

from server.accounts.models import ApiKey, User
from server.assessment.models import Assessment, AssessmentPart, AssessmentScore
from server.core.audit import AuditEntry
from server.forms.models import Form, FormVersion
from server.meetings.models import Meeting, MeetingForm
from server.miniprogram.models import (
    SessionClaim,
    SlipCode,
    StaffSession,
    WechatBinding,
)
from server.organization.models import Branch, Committee, Member, PartyGroup
from server.paper.models import PaperBallot
from server.points.models import (
    BoardState,
    PointsEntry,
    PointsPeriod,
    RectificationItem,
    StarRating,
)
from server.roundbase.models import Round, Subject, VoterCategory
from server.tokens.models import BlindKey, SpentToken, Token
from server.voting.comments import BallotComment
from server.voting.models import Ballot

__all__ = [
    "ApiKey", "AuditEntry", "Ballot", "BoardState", "Branch", "Committee", "Form", "FormVersion",
    "Member", "PartyGroup",
    "PointsEntry", "PointsPeriod", "RectificationItem", "Round", "StarRating",
    "SpentToken", "Subject", "Token", "User", "VoterCategory",
    # combined assessments (server/assessment)
    "Assessment", "AssessmentPart", "AssessmentScore",
    # mini-program (server/miniprogram, server/voting/comments.py)
    "BallotComment", "BlindKey", "SessionClaim", "SlipCode", "StaffSession",
    "WechatBinding",
    # meetings of several forms (server/meetings)
    "Meeting", "MeetingForm",
    # paper ballots (server/paper)
    "PaperBallot",
]
