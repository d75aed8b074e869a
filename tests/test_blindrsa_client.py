"""RFC 9474 on the voter's side: the page's bundled @cloudflare/blindrsa-ts
(server/voting/static/vendor/blindrsa.js) run in Chromium reproduces Appendix A's
vector (RSABSSA-SHA384-PSS-Randomized): prepare, blind (salt and r taken from the
vector), blind-sign, finalize. The server's side is tests/test_blindrsa.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support.blindclient import _mgf1
from tests.test_blindrsa import VECTOR, _vector_key

BUNDLE = Path(__file__).parents[1] / "server" / "voting" / "static" / "vendor" / "blindrsa.js"
ORIGIN = "http://localhost:9/"  # never reached: Playwright answers; localhost is a secure context


def _salt_and_r() -> tuple[bytes, bytes]:
    """The vector's PSS salt and blinding factor r, recovered from blinded_msg and inv
    (m = blinded_msg * inv^e mod n is the PSS encoding; its DB ends with the salt)."""
    n, e, inv = (int(VECTOR[k], 16) for k in ("n", "e", "inv"))
    k_len, h_len = (n.bit_length() + 7) // 8, 48
    encoded = (int(VECTOR["blinded_msg"], 16) * pow(inv, e, n) % n).to_bytes(k_len, "big")
    masked, digest = encoded[:k_len - h_len - 1], encoded[k_len - h_len - 1:-1]
    db = bytes(a ^ b for a, b in zip(masked, _mgf1(digest, len(masked)), strict=True))
    return db[-48:], pow(inv, -1, n).to_bytes(k_len, "big")


PAGE = """
async ({pub, priv, prefix, msg, salt, r}) => {
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
  const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const der = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const alg = {name: 'RSA-PSS', hash: 'SHA-384'};
  const publicKey = await crypto.subtle.importKey('spki', der(pub), alg, true, ['verify']);
  const privateKey = await crypto.subtle.importKey('pkcs8', der(priv), alg, true, ['sign']);
  const suite = pingyiBlindRSA.RSABSSA.SHA384.PSS.Randomized();
  const prepared = suite.prepare(bytes(msg));
  const real = crypto.getRandomValues.bind(crypto);
  crypto.getRandomValues = (arr) => {  // the vector's salt (48 bytes) and r (512 bytes)
    if (arr instanceof Uint8Array && arr.length === 48) { arr.set(bytes(salt)); return arr; }
    if (arr instanceof Uint8Array && arr.length === 512) { arr.set(bytes(r)); return arr; }
    return real(arr);
  };
  const input = bytes(prefix + msg);
  const {blindedMsg, inv} = await suite.blind(publicKey, input);
  crypto.getRandomValues = real;
  const blindSig = await suite.blindSign(privateKey, blindedMsg);
  const sig = await suite.finalize(publicKey, input, blindSig, inv);
  return {prepared_len: prepared.length, prepared_tail: hex(prepared.slice(32)),
          blinded_msg: hex(blindedMsg), inv: hex(inv), blind_sig: hex(blindSig), sig: hex(sig),
          verifies: await suite.verify(publicKey, sig, input)};
}
"""


def test_the_bundled_client_reproduces_rfc_9474_appendix_a(browser):
    key = _vector_key()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    salt, r = _salt_and_r()
    page = browser.new_page()
    try:
        page.route(ORIGIN, lambda route: route.fulfill(
            content_type="text/html", body="<!doctype html><title>t</title>"))
        page.route(ORIGIN + "blindrsa.js", lambda route: route.fulfill(
            content_type="text/javascript", body=BUNDLE.read_text()))
        page.goto(ORIGIN)
        page.add_script_tag(url=ORIGIN + "blindrsa.js")
        out = page.evaluate(PAGE, {
            "pub": base64.b64encode(spki).decode(), "priv": base64.b64encode(pkcs8).decode(),
            "prefix": VECTOR["msg_prefix"], "msg": VECTOR["msg"], "salt": salt.hex(),
            "r": r.hex()})
    finally:
        page.close()
    assert out["prepared_len"] == 32 + len(VECTOR["msg"]) // 2
    assert out["prepared_tail"] == VECTOR["msg"]
    assert (out["blinded_msg"], out["inv"]) == (VECTOR["blinded_msg"], VECTOR["inv"])
    assert out["blind_sig"] == VECTOR["blind_sig"]
    assert out["sig"] == VECTOR["sig"] and out["verifies"] is True


def test_the_bundle_is_one_self_contained_script():
    text = BUNDLE.read_text()
    assert text.startswith("/* @cloudflare/blindrsa-ts ") and "var pingyiBlindRSA=" in text
    assert "http://" not in text.replace("http://www.apache.org", "") and "import(" not in text
    lock = json.loads((Path(__file__).parents[1] / "js" / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/@cloudflare/blindrsa-ts"]["version"]
    assert f"blindrsa-ts {version} " in text
    assert (BUNDLE.parent / "blindrsa.LICENSE.txt").read_text().startswith(
        f"@cloudflare/blindrsa-ts {version}")
