"""Finding a CJK font for the PDFs (reportlab) and images (Pillow) we render.

reportlab can only embed TrueType outlines ("glyf"), so the Noto CJK
collections that Debian ships (CFF outlines) are no use to it; Pillow reads
either kind. When no TrueType CJK font is installed at all, reportlab falls
back to its built-in CID font STSong-Light, which is *not* embedded: the PDF
then relies on the reader having an Adobe-GB1 font, which most do (Acrobat,
WeChat's viewer, pdf.js), but print shops sometimes do not. Installing
`fonts-wqy-zenhei` (Debian/Ubuntu) avoids that.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

# TrueType-outline CJK fonts, best first, at the paths Debian/Ubuntu packages use.
TRUETYPE_CJK_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/ukai.ttc",  # fonts-arphic-ukai
    "/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",  # fonts-arphic-gbsn00lp
    "/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf",  # fonts-arphic-gkai00mp
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # fonts-droid-fallback
)

# Fonts Pillow can use but reportlab cannot (CFF outlines).
OPENTYPE_CJK_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)

REPORTLAB_FONT_NAME = "PingyiCJK"
REPORTLAB_CID_FALLBACK = "STSong-Light"

_TRUETYPE_TAGS = (b"\x00\x01\x00\x00", b"true")


def _sfnt_tag(path: str) -> bytes | None:
    """The outline tag of a font file (of its first face for a collection)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if head[:4] == b"ttcf":
                if len(head) < 16:
                    return None
                first = int.from_bytes(head[12:16], "big")
                f.seek(first)
                return f.read(4)
            return head[:4]
    except OSError:
        return None


def is_truetype(path: str) -> bool:
    """True if the font (or first face of a .ttc) has TrueType outlines."""
    return _sfnt_tag(path) in _TRUETYPE_TAGS


def cjk_ttf_path() -> str | None:
    """A TrueType CJK font reportlab can embed, or None."""
    for path in TRUETYPE_CJK_CANDIDATES:
        if os.path.isfile(path) and is_truetype(path):
            return path
    return None


def cjk_any_font_path() -> str | None:
    """A CJK font Pillow can use (TrueType or CFF OpenType), or None."""
    ttf = cjk_ttf_path()
    if ttf:
        return ttf
    for path in OPENTYPE_CJK_CANDIDATES:
        if os.path.isfile(path):
            return path
    return None


def cjk_any_font_face() -> tuple[str, int] | None:
    """(path, face index) for Pillow's ImageFont.truetype(path, size, index=...).

    Noto CJK collections put the Japanese face first; pick the Simplified
    Chinese one ("... SC") so that glyph shapes follow the mainland standard.
    """
    path = cjk_any_font_path()
    if path is None:
        return None
    if not path.endswith(".ttc") or is_truetype(path):
        return path, 0
    from PIL import ImageFont

    for index in range(10):
        try:
            family, _style = ImageFont.truetype(path, 10, index=index).getname()
        except OSError:
            break
        if family and family.endswith(" SC"):
            return path, index
    return path, 0


_lock = threading.Lock()
_registered: str | None = None


def register_reportlab_cjk() -> str:
    """Register a CJK font with reportlab (once) and return its font name.

    An embeddable TrueType font when one is installed, else the built-in,
    non-embedded CID font STSong-Light (with a warning).
    """
    global _registered
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is not None:
            return _registered
        from reportlab.pdfbase import pdfmetrics

        for path in TRUETYPE_CJK_CANDIDATES:
            if not (os.path.isfile(path) and is_truetype(path)):
                continue
            try:
                from reportlab.pdfbase.ttfonts import TTFont

                if path.endswith(".ttc"):
                    font = TTFont(REPORTLAB_FONT_NAME, path, subfontIndex=0)
                else:
                    font = TTFont(REPORTLAB_FONT_NAME, path)
                pdfmetrics.registerFont(font)
            except Exception:  # a damaged or unexpected file: try the next one
                log.warning("cannot load CJK font %s for PDFs", path, exc_info=True)
                continue
            _registered = REPORTLAB_FONT_NAME
            return _registered

        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        log.warning(
            "no TrueType CJK font found (install fonts-wqy-zenhei); PDFs will use the "
            "non-embedded CID font %s", REPORTLAB_CID_FALLBACK,
        )
        pdfmetrics.registerFont(UnicodeCIDFont(REPORTLAB_CID_FALLBACK))
        _registered = REPORTLAB_CID_FALLBACK
        return _registered


def reportlab_cjk_is_embedded() -> bool:
    """True when register_reportlab_cjk() gives an embedded (TrueType) font."""
    return register_reportlab_cjk() != REPORTLAB_CID_FALLBACK
