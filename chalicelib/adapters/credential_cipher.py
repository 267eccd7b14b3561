"""Credential encryption: AWS KMS in AWS, a local AES-256-GCM key on one machine.

Both bind the ciphertext to its cluster (KMS encryption context, GCM associated data), so a
sealed value copied onto another cluster's item does not open. The sealed form says which
scheme made it: ``kms:v1:<base64>`` or ``local:v1:<base64 nonce+ciphertext>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from chalicelib.adapters.aws import client, translate_errors
from chalicelib.domain.cluster_ports import CredentialCipher
from chalicelib.domain.errors import DependencyUnavailable

NONCE_BYTES = 12
KEY_BYTES = 32


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


class LocalCipher(CredentialCipher):
    """AES-256-GCM with a key held by the machine (the embedded stack and tests)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("the local credential key must be 32 bytes")
        self._key = key

    def seal(self, plaintext: bytes, context: dict[str, str]) -> str:
        """Encrypt with a fresh random nonce."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key).encrypt(nonce, plaintext, _aad(context))
        return "local:v1:" + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: dict[str, str]) -> bytes:
        """Decrypt; a wrong key or context fails loudly."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        raw = _payload(sealed, "local:v1:")
        try:
            return AESGCM(self._key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise DependencyUnavailable(
                "stored cluster credentials cannot be decrypted with this machine's key; "
                "send them again with PUT .../credentials", code="credentials_unreadable") \
                from None


class KmsCipher(CredentialCipher):
    """AWS KMS Encrypt/Decrypt with the cluster as encryption context."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    @translate_errors("KMS")
    def seal(self, plaintext: bytes, context: dict[str, str]) -> str:
        """Encrypt under the configured key."""
        blob = client("kms").encrypt(KeyId=self.key_id, Plaintext=plaintext,
                                     EncryptionContext=context)["CiphertextBlob"]
        return "kms:v1:" + base64.b64encode(blob).decode()

    @translate_errors("KMS")
    def open(self, sealed: str, context: dict[str, str]) -> bytes:
        """Decrypt (KMS finds the key from the blob)."""
        blob = _payload(sealed, "kms:v1:")
        return bytes(client("kms").decrypt(CiphertextBlob=blob,
                                           EncryptionContext=context)["Plaintext"])


def _payload(sealed: str, prefix: str) -> bytes:
    if not sealed.startswith(prefix):
        raise DependencyUnavailable(
            f"stored cluster credentials were sealed by '{sealed.split(':', 1)[0]}', not by "
            "the configured cipher; send them again with PUT .../credentials",
            code="credentials_unreadable")
    try:
        return base64.b64decode(sealed[len(prefix):], validate=True)
    except binascii.Error:
        raise DependencyUnavailable("stored cluster credentials are corrupt",
                                    code="credentials_unreadable") from None


def cipher_from_settings(kms_key_id: str | None, local_key: str | None,
                         local_key_file: str | None) -> CredentialCipher:
    """KMS when a key id is configured, else the local key (inline or from a file)."""
    if kms_key_id:
        return KmsCipher(kms_key_id)
    text = local_key
    if not text and local_key_file and Path(local_key_file).exists():
        text = Path(local_key_file).read_text().strip()
    if not text:
        raise DependencyUnavailable(
            "no key to encrypt cluster credentials: set DROVER_KMS_KEY_ID (AWS) or "
            "DROVER_LOCAL_KEY / DROVER_LOCAL_KEY_FILE (one machine)", code="no_credential_key")
    try:
        return LocalCipher(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise DependencyUnavailable("DROVER_LOCAL_KEY must be 32 bytes in base64",
                                    code="no_credential_key") from None
