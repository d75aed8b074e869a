"""Shared pieces of the Chromium tests: the launch, a phone and a desk context,
signing in to the console, screenshots, and reading the slips a PDF carries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from server.tokens.slips import slip_cells

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile "
    "Safari/537.36 XWEB/1160117 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560"
    "(0x28002F35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
SHOTS = Path(os.environ.get("PINGYI_SCREENSHOTS") or "/tmp/shots")


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module (registered for every test by tests/conftest.py)."""
    with chromium() as b:
        yield b


def _watch(ctx: BrowserContext, errors: list[str]) -> Page:
    ctx.set_default_timeout(10000)
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    return page


def phone(browser: Browser, errors: list[str]) -> Page:
    """A WeChat-like phone (390x844) whose script errors land in `errors`."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True, locale="zh-CN",
                              reduced_motion="reduce", user_agent=WECHAT_UA)
    return _watch(ctx, errors)


def desk(browser: Browser, errors: list[str]) -> Page:
    """An organizer's desktop (1280x900) that accepts every confirm() it is asked."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                              reduced_motion="reduce", accept_downloads=True)
    page = _watch(ctx, errors)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def sign_in(page: Page, base_url: str, username: str = "organizer",
            password: str = "correct horse 1") -> None:
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="登录").click()
    expect(page).not_to_have_url(re.compile(r"/console/login"))


def shot(target: object, name: str, **kw: object) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SHOTS / f"{name}.png"), animations="disabled", **kw)  # type: ignore[attr-defined]


def slip_tokens(pdf: bytes, per_page: int = 8) -> list[str]:
    """The tokens the QR codes of a slip PDF carry, read the way a phone reads them:
    each slip cut out of the rasterised page (pdftoppm) and scanned (zbarimg)."""
    if not (shutil.which("pdftoppm") and shutil.which("zbarimg")):
        pytest.skip("needs poppler-utils and zbar-tools")
    dpi = 150
    tokens: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slips.pdf"
        path.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), f"{tmp}/page"],
                       check=True)
        for page in sorted(Path(tmp).glob("page*.png")):
            with Image.open(page) as img:
                for i, cell in enumerate(slip_cells(per_page)):
                    crop = Path(tmp) / f"{page.stem}-{i}.png"
                    img.crop(tuple(round(v * dpi / 72) for v in cell)).save(crop)
                    out = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable",
                                          "-Sqrcode.enable", str(crop)],
                                         capture_output=True, text=True, check=False).stdout
                    tokens += [line.split("#", 1)[1] for line in out.split() if "#" in line]
    return tokens
