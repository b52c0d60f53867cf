"""A partner's key file: one small JSON object with its partner id, key id, Ed25519 private key and target.

    {"partner_id": "acme", "key_id": "acme-2025-01", "private_key_pem": "-----BEGIN PRIVATE KEY-----...",
     "target": "network.example:443"}

The file is written owner-only (0600) and, like an ssh key, refused on load when group or others can
read it. The private key is PKCS#8 PEM, unencrypted: protect the file, not the key inside it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from partners import signing

_ID = signing.KEY_ID_PATTERN


class KeyFileError(Exception):
    """A key file that cannot be written or used."""


@dataclass(frozen=True)
class KeyFile:
    partner_id: str
    key_id: str
    private_key_pem: str
    target: str = ""

    def private_key(self) -> Ed25519PrivateKey:
        try:
            return signing.private_key_from_pem(self.private_key_pem.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise KeyFileError(f"private_key_pem is not an unencrypted Ed25519 PKCS#8 PEM key: {exc}") from None

    def public_key_raw(self) -> bytes:
        return signing.raw_public(self.private_key())

    @classmethod
    def generate(cls, partner_id: str, key_id: str, target: str = "") -> "KeyFile":
        pem = signing.private_key_to_pem(signing.generate_private_key()).decode("ascii")
        return cls(partner_id=partner_id, key_id=key_id, private_key_pem=pem, target=target)


def _check_ids(key_file: KeyFile) -> None:
    if key_file.partner_id and not _ID.match(key_file.partner_id):
        raise KeyFileError("partner_id must be 1..64 characters of [A-Za-z0-9._:-]")
    if not _ID.match(key_file.key_id):
        raise KeyFileError("key_id must be 1..64 characters of [A-Za-z0-9._:-]")


def save_key_file(path: str | os.PathLike[str], key_file: KeyFile, *, overwrite: bool = False) -> Path:
    """Write the key file owner-read/write only; refuse to replace an existing file unless overwrite."""
    _check_ids(key_file)
    key_file.private_key()  # refuse to write a file that could not be loaded again
    path = Path(path)
    body = json.dumps(
        {
            "partner_id": key_file.partner_id,
            "key_id": key_file.key_id,
            "private_key_pem": key_file.private_key_pem,
            "target": key_file.target,
        },
        indent=2,
    ) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists (refusing to overwrite a key)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # O_CREAT's mode is ignored for a file that already existed
        out.write(body)
    return path


def load_key_file(path: str | os.PathLike[str], *, check_permissions: bool = True) -> KeyFile:
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if check_permissions and os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is accessible by group or others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"key file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise KeyFileError(f"key file {path} must hold a JSON object")
    for name in ("key_id", "private_key_pem"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise KeyFileError(f"key file {path} lacks {name!r}")
    for name in ("partner_id", "target"):
        if not isinstance(data.get(name, ""), str):
            raise KeyFileError(f"key file {path}: {name!r} must be a string")
    key_file = KeyFile(
        partner_id=data.get("partner_id", ""),
        key_id=data["key_id"],
        private_key_pem=data["private_key_pem"],
        target=data.get("target", ""),
    )
    _check_ids(key_file)
    key_file.private_key()
    return key_file
