"""Standard Webhooks signing: the published test vector, round trips and what must fail."""

from __future__ import annotations

import base64

import pytest

from service.alerts import sign_payload, verify_signature

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "plain-secret"
BODY = b'{"event_type":"run.failed"}'
NOW = 1_700_000_000


def test_matches_the_standard_webhooks_vector() -> None:
    assert sign_payload(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert verify_signature(
        VECTOR_SECRET,
        VECTOR_ID,
        str(VECTOR_TIMESTAMP),
        VECTOR_BODY.encode(),
        VECTOR_SIGNATURE,
        now=VECTOR_TIMESTAMP,
    )


def test_plain_secret_equals_its_whsec_form() -> None:
    """Receivers using a Standard Webhooks library configure ``whsec_`` + base64(secret)."""
    whsec = "whsec_" + base64.b64encode(SECRET.encode()).decode()

    assert sign_payload(SECRET, "d1", NOW, BODY) == sign_payload(whsec, "d1", NOW, BODY)


def test_round_trip_verifies() -> None:
    signature = sign_payload(SECRET, "d1", NOW, BODY)

    assert signature.startswith("v1,")
    assert verify_signature(SECRET, "d1", str(NOW), BODY, signature, now=NOW + 10)


@pytest.mark.parametrize(
    ("secret", "msg_id", "timestamp", "body", "now"),
    [
        (SECRET, "d1", str(NOW), BODY + b" ", NOW),  # tampered body
        (SECRET, "d1", str(NOW), b'{"event_type":"run.succeeded"}', NOW),
        (SECRET, "d2", str(NOW), BODY, NOW),  # another message id
        (SECRET, "d1", str(NOW + 1), BODY, NOW),  # another timestamp
        ("other-secret", "d1", str(NOW), BODY, NOW),
        (SECRET, "d1", str(NOW), BODY, NOW + 301),  # too old: a replay
        (SECRET, "d1", str(NOW), BODY, NOW - 301),  # from the future
        (SECRET, "d1", "not-a-number", BODY, NOW),
    ],
)
def test_anything_changed_fails(
    secret: str, msg_id: str, timestamp: str, body: bytes, now: int
) -> None:
    signature = sign_payload(SECRET, "d1", NOW, BODY)

    assert not verify_signature(secret, msg_id, timestamp, body, signature, now=now)


def test_any_of_several_signatures_may_match() -> None:
    good = sign_payload(SECRET, "d1", NOW, BODY)
    stale = sign_payload("rotated-away", "d1", NOW, BODY)

    assert verify_signature(SECRET, "d1", NOW, BODY, f"{stale} {good}", now=NOW)
    assert not verify_signature(SECRET, "d1", NOW, BODY, f"{stale} v1,bm9wZQ==", now=NOW)
    assert not verify_signature(SECRET, "d1", NOW, BODY, "", now=NOW)


def test_bad_whsec_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        sign_payload("whsec_not*base64", "d1", NOW, BODY)

    assert "not*base64" not in str(caught.value)
