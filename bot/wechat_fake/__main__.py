"""Run the fake on its own: `python -m bot.wechat_fake [--port 5101]` (for the demo)."""

from __future__ import annotations

import argparse
import time

from bot.wechat_fake import running_fake


def main() -> None:
    parser = argparse.ArgumentParser(description="local fake of the WeChat / WeCom APIs")
    parser.add_argument("--port", type=int, default=5101)
    args = parser.parse_args()
    with running_fake(port=args.port) as (base, _state):
        print(f"WeChat fake listening on {base} (received messages: {base}/)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
