"""The hash chain's arithmetic and the Ed25519 keys that sign its checkpoints.

Each event is hashed as canonical JSON of what identifies it in the log (position, aggregate id,
version, stored type) and its stored body, re-serialised with sorted keys, so the same bytes come
out of the store, an export line or a re-encoded copy. Link n is sha256(prev_hash || canonical n);
the first link's prev_hash is 64 zeros. A checkpoint signs "position:hash" for a point in the chain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = "0" * 64


def canonical_json(value: Any) -> bytes:
    # The mapper's own encoding (sorted keys, compact, ASCII), so a body it wrote is already canonical.
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def canonical_event(
    position: int, aggregate_id: str, version: int, event_type: str, body: dict[str, Any]
) -> bytes:
    return canonical_json(
        {
            "aggregate_id": aggregate_id,
            "body": body,
            "position": position,
            "type": event_type,
            "version": version,
        }
    )


def canonical_event_fast(
    position: int, aggregate_id: str, version: int, event_type: str, stored_body: bytes
) -> bytes:
    """`canonical_event` built around the stored bytes: equal to it whenever those bytes are canonical
    (everything the mapper wrote). Callers that get a mismatch fall back to `canonical_event`."""
    return b"".join(
        (
            b'{"aggregate_id":',
            json.dumps(aggregate_id).encode(),
            b',"body":',
            stored_body,
            b',"position":',
            str(position).encode(),
            b',"type":',
            json.dumps(event_type).encode(),
            b',"version":',
            str(version).encode(),
            b"}",
        )
    )


def link(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def checkpoint_message(position: int, chain_hash: str) -> bytes:
    return f"refill-ledger-checkpoint:{position}:{chain_hash}".encode()


class BadKey(ValueError):
    """A signing or public key that cannot be read."""


def _b64_32(text: str, what: str) -> bytes:
    raw = text.strip()
    try:
        data = base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadKey(f"{what} is not base64") from exc
    if len(data) != 32:
        raise BadKey(f"{what} must be 32 bytes of base64 (got {len(data)})")
    return data


@dataclass(frozen=True)
class Verifier:
    public_key: Ed25519PublicKey

    @classmethod
    def from_b64(cls, text: str) -> Verifier:
        return cls(Ed25519PublicKey.from_public_bytes(_b64_32(text, "public key")))

    @property
    def public_b64(self) -> str:
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def key_id(self) -> str:
        """A short, stable name for the key: the start of the sha256 of its raw bytes."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def verify(self, message: bytes, signature_b64: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature_b64), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @classmethod
    def from_b64(cls, text: str) -> Signer:
        """LEDGER_SIGNING_KEY: the 32-byte Ed25519 seed, standard or URL-safe base64."""
        return cls(Ed25519PrivateKey.from_private_bytes(_b64_32(text, "LEDGER_SIGNING_KEY")))

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.private_key.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode()
