"""Run the fake on its own: `python -m bot.wechat_fake [--port 5101]` (for the demo)."""

from __future__ import annotations

import argparse
import socket
import time

from bot.wechat_fake import running_fake


def main() -> None:
    parser = argparse.ArgumentParser(description="local fake of the WeChat / WeCom APIs")
    parser.add_argument("--port", type=int, default=5101)
    parser.add_argument("--wait", action="store_true",
                        help="only wait (up to 10 s) until a fake listens on --port")
    args = parser.parse_args()
    if args.wait:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", args.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"no fake on port {args.port}")
    with running_fake(port=args.port) as (base, _state):
        print(f"WeChat fake listening on {base} (received messages: {base}/)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
