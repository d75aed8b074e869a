"""RSA blind signatures, RFC 9474 RSABSSA-SHA384-PSS-Randomized: the server's half.

The voter's page (npm @cloudflare/blindrsa-ts, bundled in server/voting/static/
vendor/) prepares its message (a random 32-byte prefix, then the token), blinds
it and sends the blinded message; `blind_sign` is the RFC's BlindSign step; the
page unblinds the answer into a standard RSASSA-PSS signature (SHA-384, MGF1
SHA-384, 48-byte salt) over prefix || token, which `verify` checks with
`cryptography`. The signer sees only a uniformly random-looking number: nothing
it holds or learns, the private key included, ties a signature to its blinded
message.

No maintained Python package implements RFC 9474 (none on PyPI), and
`cryptography` offers no raw RSA private operation, so BlindSign is done here
from the key's CRT numbers: m^d mod n with RSA blinding (m·r^e, then ·r^-1, r
fresh each time) so the timing of Python's big-integer arithmetic says nothing
about d or the message, and the result is checked (s^e = m) before it leaves,
as the RFC requires (a fault would otherwise reveal a factor of n).
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

VARIANT = "RSABSSA-SHA384-PSS-Randomized"
PREFIX_LEN = 32  # the Randomized variant's message prefix
SALT_LEN = 48  # SHA-384's length
KEY_BITS = 2048
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LEN)


class BlindSignError(ValueError):
    """The blinded message is not a number the key can sign (wrong length or >= n)."""


def new_key(bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private(der: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key


def public_spki(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public key as DER SubjectPublicKeyInfo (what WebCrypto's importKey('spki') takes)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(spki: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(spki)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def blind_sign(key: rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """RFC 9474 §4.3 BlindSign: blinded_msg^d mod n, as many bytes as n."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    n, e = pub.n, pub.e
    size = (n.bit_length() + 7) // 8
    if len(blinded_msg) != size:
        raise BlindSignError("blinded message of the wrong length")
    m = int.from_bytes(blinded_msg, "big")
    if m >= n:
        raise BlindSignError("blinded message out of range")
    while True:  # RSA blinding: r uniform in [2, n), invertible (all but a negligible few)
        r = secrets.randbelow(n - 2) + 2
        try:
            r_inv = pow(r, -1, n)
            break
        except ValueError:
            continue
    blinded = m * pow(r, e, n) % n
    # CRT: m^d mod p and mod q, recombined (Garner)
    s_p = pow(blinded % priv.p, priv.dmp1, priv.p)
    s_q = pow(blinded % priv.q, priv.dmq1, priv.q)
    s = (s_q + priv.q * ((priv.iqmp * (s_p - s_q)) % priv.p)) * r_inv % n
    if pow(s, e, n) != m:  # RSAVP1 check: never hand out a faulty signature
        raise BlindSignError("signing failed its own check")
    return s.to_bytes(size, "big")


def verify(public: rsa.RSAPublicKey, prefix: bytes, msg: bytes, signature: bytes) -> bool:
    """A standard RSASSA-PSS check (SHA-384, MGF1-SHA-384, 48-byte salt) of prefix || msg."""
    if len(prefix) != PREFIX_LEN:
        return False
    try:
        public.verify(signature, prefix + msg, _PSS, hashes.SHA384())
    except InvalidSignature:
        return False
    return True
