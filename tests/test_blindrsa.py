"""RFC 9474 (RSABSSA-SHA384-PSS-Randomized) on the server's side: the RFC's test vector
(tests/data/rfc9474_vectors.json, Appendix A), and a whole blind/sign/unblind round
done here by hand as the voter's page does it (server/voting/static/vendor/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from server.core import blindrsa
from tests.support.blindclient import emsa_pss_encode

VECTOR = json.loads((Path(__file__).parent / "data" / "rfc9474_vectors.json").read_text())


def _vector_key() -> rsa.RSAPrivateKey:
    p, q, n, e, d = (int(VECTOR[k], 16) for k in "pqned")
    public = rsa.RSAPublicNumbers(e, n)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), public).private_key()


def test_blind_sign_gives_the_rfc_vectors_blind_signature():
    key = _vector_key()
    blind_sig = blindrsa.blind_sign(key, bytes.fromhex(VECTOR["blinded_msg"]))
    assert blind_sig.hex() == VECTOR["blind_sig"]


def test_the_rfc_vectors_signature_verifies_as_plain_rsa_pss():
    public = _vector_key().public_key()
    prefix, msg = bytes.fromhex(VECTOR["msg_prefix"]), bytes.fromhex(VECTOR["msg"])
    sig = bytes.fromhex(VECTOR["sig"])
    assert blindrsa.verify(public, prefix, msg, sig)
    assert not blindrsa.verify(public, prefix, msg + b"x", sig)
    assert not blindrsa.verify(public, bytes(32), msg, sig)
    assert not blindrsa.verify(public, prefix[:-1], msg, sig)
    assert not blindrsa.verify(public, prefix, msg, sig[:-1] + bytes([sig[-1] ^ 1]))
    # finalize: the unblinded blind signature is the signature
    n = int(VECTOR["n"], 16)
    unblinded = int(VECTOR["blind_sig"], 16) * int(VECTOR["inv"], 16) % n
    assert unblinded == int.from_bytes(sig, "big")


def test_a_blinded_token_signed_and_unblinded_verifies_and_the_signer_saw_noise():
    key = blindrsa.new_key()
    public = blindrsa.load_public(blindrsa.public_spki(key))
    n, e = public.public_numbers().n, public.public_numbers().e
    prefix, token = os.urandom(32), b"12.ABCDEFGHJKMNPQRSTUVWXYZ23"
    encoded = int.from_bytes(emsa_pss_encode(prefix + token, n.bit_length() - 1), "big")
    r = int.from_bytes(os.urandom(256), "big") % n
    blinded = (encoded * pow(r, e, n) % n).to_bytes(256, "big")
    blind_sig = int.from_bytes(blindrsa.blind_sign(key, blinded), "big")
    sig = (blind_sig * pow(r, -1, n) % n).to_bytes(256, "big")
    assert blindrsa.verify(public, prefix, token, sig)
    assert token not in blinded and sig != blindrsa.blind_sign(key, blinded)


@pytest.mark.parametrize("bad", [b"", bytes(255), bytes(257), b"\xff" * 256])
def test_blind_sign_refuses_what_is_not_a_number_below_n(bad):
    with pytest.raises(blindrsa.BlindSignError):
        blindrsa.blind_sign(_key_2048(), bad)


_KEY: list[rsa.RSAPrivateKey] = []


def _key_2048() -> rsa.RSAPrivateKey:
    if not _KEY:
        _KEY.append(blindrsa.new_key())
    return _KEY[0]


def test_keys_round_trip_through_der():
    key = _key_2048()
    again = blindrsa.load_private(blindrsa.private_der(key))
    assert again.private_numbers() == key.private_numbers()
    assert blindrsa.load_public(blindrsa.public_spki(key)).public_numbers() == \
        key.public_key().public_numbers()
