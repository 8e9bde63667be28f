"""The signed cookie value, checked against the vectors of the cookie-signature npm package's tests."""

import pytest

from django_express_session import signing

VECTORS = [
    ("apple", "keyboard cat", "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"),
    ("%", "keyboard cat", "s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g"),
    ("/foo", "keyboard cat", "s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ"),
    (
        "_Yw1Nmrl3w6JqMgfCbgxnTR0DK0D12OP",
        "keyboard cat",
        "s%3A_Yw1Nmrl3w6JqMgfCbgxnTR0DK0D12OP.5Ay4AFJ2HvM9XfeIt2YWpV9kAjYAKOW3HfESluKVC20",
    ),
    ("apple", "nyan cat", "s%3Aapple.983qzGg26N4vCfnfyQ%2B05fJvRk8RzL8gdNJg11RbHNs"),
]


@pytest.mark.parametrize("sid,secret,expected", VECTORS)
def test_cookie_value_matches_express(sid, secret, expected):
    assert signing.cookie_value(sid, secret) == expected


@pytest.mark.parametrize("sid,secret,expected", VECTORS)
def test_every_vector_verifies(sid, secret, expected):
    from urllib.parse import unquote

    assert signing.session_id(unquote(expected), [secret]) == sid


def test_bytes_secrets_sign_like_strings():
    assert signing.sign("apple", b"keyboard cat") == signing.sign("apple", "keyboard cat")


def test_first_secret_signs_and_every_secret_verifies():
    old = "s:" + signing.sign("sid", "old secret")
    assert signing.session_id(old, ["new secret", "old secret"]) == "sid"
    assert signing.cookie_value("sid", "new secret").startswith("s%3Asid.")
    assert signing.session_id(old, ["new secret"]) is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "sid",  # unsigned
        "sid." + signing.sign("sid", "keyboard cat").split(".", 1)[1],  # no s: prefix
        "s:" + signing.sign("sid", "keyboard cat")[:-1],  # truncated signature
        "s:" + signing.sign("sid", "keyboard cat") + "=",  # re-padded
        "s:" + signing.sign("sid", "keyboard cat").replace("sid", "sie"),  # tampered id
        "s:nodot",
    ],
)
def test_invalid_values_carry_no_session_id(raw):
    assert signing.session_id(raw, ["keyboard cat"]) is None


def test_an_id_may_contain_dots():
    signed = "s:" + signing.sign("a.b.c", "keyboard cat")
    assert signing.session_id(signed, ["keyboard cat"]) == "a.b.c"
