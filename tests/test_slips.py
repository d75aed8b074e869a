"""Printable slips and QR images, checked the way a phone and a printer see them:
the PDF is rasterised (poppler's pdftoppm) and every QR code is read back with
zbar; its text is read back with pdftotext and its fonts listed with pdffonts.

Codes are read slip by slip, from the page cut along the cut lines, as they
will be scanned. zbar's search for *several* codes in one image is not a
reliable oracle: on a whole page it sometimes misses one of eight perfectly
readable codes, depending on things as incidental as the phase of the dashes
of the cut lines.
"""

from __future__ import annotations

import random
import re
import secrets
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData

from server.core.fonts import (
    REPORTLAB_CID_FALLBACK,
    cjk_any_font_path,
    cjk_ttf_path,
    is_truetype,
    register_reportlab_cjk,
)
from server.tokens.codec import TOKEN_RE, new_token, vote_url
from server.tokens.qr import qr_matrix, qr_png, qr_svg
from server.tokens.slips import (
    CATEGORY_LABEL,
    CODE_LABEL,
    CUT_HINT,
    INSTRUCTIONS,
    render_slips_pdf,
    slip_cells,
)

BASE = "https://vote.example.test"
TITLE = "2025年度机关第一党支部党员民主评议"
CATEGORY = "普通党员"

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("pdftoppm", "pdftotext", "pdffonts", "zbarimg")),
    reason="needs poppler-utils (pdftoppm, pdftotext, pdffonts) and zbar-tools (zbarimg)",
)


def _slips(n: int, round_id: int = 12) -> tuple[list[str], list[str]]:
    tokens = [f"{round_id}.{secrets.token_urlsafe(16)}" for _ in range(n)]
    return [vote_url(BASE, t) for t in tokens], tokens


def _zbar(*images: Path) -> list[str]:
    out = subprocess.run(
        ["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", *map(str, images)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode in (0, 4), out.stderr  # 4: no code found
    return [line for line in out.stdout.splitlines() if line]


def _rasterise(pdf: bytes, tmp_path: Path, dpi: int = 150) -> list[Path]:
    path = tmp_path / "slips.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(tmp_path / "page")],
                   check=True)
    return sorted(tmp_path.glob("page*.png"))


def _scan_slips(pages: list[Path], per_page: int, tmp_path: Path,
                dpi: int = 150) -> list[list[str]]:
    """The codes zbar reads on each slip cut out of the pages, in slip order."""
    scale = dpi / 72
    found = []
    for page in pages:
        with Image.open(page) as img:
            for i, (left, top, right, bottom) in enumerate(slip_cells(per_page)):
                crop = tmp_path / f"{page.stem}-slip{i}.png"
                img.crop((round(left * scale), round(top * scale),
                          round(right * scale), round(bottom * scale))).save(crop)
                found.append(_zbar(crop))
    return found


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"],
                          capture_output=True, text=True, check=True).stdout


@needs_tools
def test_every_slip_scans_to_its_own_url(tmp_path: Path) -> None:
    urls, tokens = _slips(20)
    pdf = render_slips_pdf(TITLE, CATEGORY, urls, tokens)
    assert pdf.startswith(b"%PDF")

    pages = _rasterise(pdf, tmp_path)
    assert len(pages) == 3  # 8 + 8 + 4
    per_slip = _scan_slips(pages, 8, tmp_path)
    assert all(len(codes) == 1 for codes in per_slip[:20]), per_slip
    assert per_slip[20:] == [[]] * 4  # the unused end of the last page is blank
    decoded = [code for codes in per_slip for code in codes]
    assert decoded == urls  # in order: slip i carries url i

    assert len(decoded) == len(urls)
    assert len(set(decoded)) == len(decoded)
    assert set(decoded) == set(urls)
    for url in decoded:
        parts = urlsplit(url)
        assert parts.scheme == "https"
        assert parts.netloc == "vote.example.test"
        assert parts.path == "/v/"
        assert not parts.query
        assert TOKEN_RE.match(parts.fragment)
        assert parts.fragment in tokens


@needs_tools
@pytest.mark.parametrize("per_page", [1, 4, 10])
def test_other_page_layouts_scan(tmp_path: Path, per_page: int) -> None:
    urls, tokens = _slips(per_page, round_id=987654321)
    pdf = render_slips_pdf("党员民主评议", "入党积极分子", urls, tokens, per_page=per_page)
    pages = _rasterise(pdf, tmp_path)
    assert len(pages) == 1
    assert _scan_slips(pages, per_page, tmp_path) == [[u] for u in urls]


@needs_tools
def test_slip_text_is_real_cjk_text_and_nothing_else(tmp_path: Path) -> None:
    urls, tokens = _slips(11)
    text = _text(render_slips_pdf(TITLE, CATEGORY, urls, tokens), tmp_path)

    assert TITLE in text
    assert CATEGORY_LABEL + CATEGORY in text
    assert text.count(TITLE) == len(tokens)
    assert INSTRUCTIONS in re.sub(r"\s+", "", text)
    assert set(re.findall(r"\d+\.[A-Za-z0-9_-]{22}", text)) == set(tokens)

    # No serial number or anything else: every line is one of the known texts.
    footer = re.compile(r"^第 ?\d+ ?页 ?/ ?共 ?2 ?页$")
    for line in (s.strip() for s in text.splitlines()):
        if not line or line in tokens or footer.match(line):
            continue
        assert line in {TITLE, CATEGORY_LABEL + CATEGORY, CODE_LABEL, CUT_HINT} or (
            line in INSTRUCTIONS), line


@needs_tools
def test_long_title_wraps_and_stays_text(tmp_path: Path) -> None:
    title = "中共某某市某某区机关工作委员会2025年度第一季度基层党组织书记抓基层党建工作述职评议考核"
    urls, tokens = _slips(1, round_id=1234567890)
    pdf = render_slips_pdf(title, "党员代表（含离退休）", urls, tokens)
    text = re.sub(r"\s+", "", _text(pdf, tmp_path))
    assert title in text
    assert tokens[0] in text
    assert _scan_slips(_rasterise(pdf, tmp_path), 8, tmp_path)[0] == urls


@needs_tools
def test_cjk_font_is_embedded(tmp_path: Path) -> None:
    urls, tokens = _slips(2)
    path = tmp_path / "fonts.pdf"
    path.write_bytes(render_slips_pdf(TITLE, CATEGORY, urls, tokens))
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    if cjk_ttf_path() is None:
        assert any(REPORTLAB_CID_FALLBACK in line for line in listing), listing
        return
    truetype = [line for line in listing if "TrueType" in line]
    assert truetype, listing
    for line in truetype:  # columns from the right: emb sub uni object generation
        assert line.split()[-5] == "yes", line


def test_font_lookup() -> None:
    path = cjk_ttf_path()
    if path is not None:
        assert is_truetype(path)
        assert "NotoSansCJK" not in path and "NotoSerifCJK" not in path
        assert register_reportlab_cjk() != REPORTLAB_CID_FALLBACK
        assert cjk_any_font_path() == path
    else:
        assert register_reportlab_cjk() == REPORTLAB_CID_FALLBACK
    assert register_reportlab_cjk() == register_reportlab_cjk()


def test_font_fallback_without_truetype_cjk(monkeypatch: pytest.MonkeyPatch) -> None:
    import server.core.fonts as fonts

    monkeypatch.setattr(fonts, "TRUETYPE_CJK_CANDIDATES", ("/nonexistent/font.ttc",))
    monkeypatch.setattr(fonts, "_registered", None)
    assert fonts.cjk_ttf_path() is None
    assert fonts.register_reportlab_cjk() == REPORTLAB_CID_FALLBACK
    urls, tokens = _slips(2)
    assert render_slips_pdf(TITLE, CATEGORY, urls, tokens).startswith(b"%PDF")


def test_slip_arguments_are_checked() -> None:
    urls, tokens = _slips(3)
    with pytest.raises(ValueError):
        render_slips_pdf(TITLE, CATEGORY, urls, tokens[:2])
    with pytest.raises(ValueError):
        render_slips_pdf(TITLE, CATEGORY, urls, tokens, per_page=0)
    with pytest.raises(ValueError):
        render_slips_pdf(TITLE, CATEGORY, urls, tokens, per_page=40)


def test_fast_matrix_is_the_library_symbol() -> None:
    """qr_matrix does its own placement, masking and RS coding: it must agree with
    the qrcode library module for module, over many lengths and so versions."""
    rng = random.Random(20250101)
    samples = [vote_url(BASE, new_token(rng.randint(1, 10**9))) for _ in range(60)]
    samples += [
        "".join(rng.choice("abcXYZ019-_./#:?&=%") for _ in range(rng.randint(1, 700)))
        for _ in range(80)
    ]
    samples += ["投票", "https://例子.测试/v/#1." + "A" * 22]
    for data in samples:
        ref = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
        ref.add_data(QRData(data.encode(), mode=MODE_8BIT_BYTE))
        ref.make(fit=True)
        assert qr_matrix(data) == ref.get_matrix(), data


@needs_tools
def test_qr_png_decodes(tmp_path: Path) -> None:
    url = vote_url(BASE, new_token(7))
    png = qr_png(url, box_size=6)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "code.png"
    path.write_bytes(png)
    assert _zbar(path) == [url]


def test_qr_svg_is_svg() -> None:
    svg = qr_svg(vote_url(BASE, new_token(7)))
    root = ET.fromstring(svg)
    assert root.tag.rsplit("}", 1)[-1] == "svg"
    assert root.find(".//{http://www.w3.org/2000/svg}path") is not None
