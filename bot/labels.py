"""Chinese words for the bot's states and choices (one place for screens and the CLI)."""

STATUS_LABELS = {
    "pending": "待发送", "sending": "发送中", "sent": "已发送", "uncertain": "待核对",
    "failed": "发送失败", "cancelled": "已取消",
}
MANUAL_SENT = "已生成，待书记转发"
SOURCE_LABELS = {"console": "网页发布", "cli": "命令行", "schedule": "定时发布", "demo": "演示"}
PURPOSE_LABELS = {"points": "积分排行榜", "notices": "测评结束通知"}
FORMAT_LABELS = {"image": "图片卡片", "markdown": "Markdown 消息", "text": "纯文本"}
KIND_LABELS = {"board": "排行榜", "notice": "测评通知"}
