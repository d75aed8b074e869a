"""Tables of the bot, one file each."""

from bot.models.bot_post import BotPost
from bot.models.chat_target import ChatTarget
from bot.models.wecom_user import WecomUser

__all__ = ["BotPost", "ChatTarget", "WecomUser"]
