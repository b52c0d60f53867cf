"""A local certificate authority for `coalition up --tls`: a CA, the server's certificate, one client certificate per
partner (cryptography's x509; ECDSA P-256 keys).

Files under the directory given (`<data-dir>/tls` for `coalition up`), PEM, keys readable by the owner only:
    ca.pem                        the CA certificate: clients trust it (--ca-file), the server trusts client
                                  certificates it signed (COALITION_TLS_CLIENT_CA_FILE)
    ca-key.pem                    the CA's key
    server.pem, server-key.pem    the server: DNS localhost and IP 127.0.0.1 (plus the names given)
    clients/<partner>.pem, clients/<partner>-key.pem
                                  a partner's client certificate: subject CN=<partner_id>, the name the network
                                  matches against the signing key's partner under mutual TLS
Idempotent: what exists is kept (the CA too), only what is missing is issued.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825
SERVER_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class LocalTls:
    directory: Path
    ca_file: Path
    server_cert_file: Path
    server_key_file: Path

    def client_cert_file(self, partner_id: str) -> Path:
        return self.directory / "clients" / f"{partner_id}.pem"

    def client_key_file(self, partner_id: str) -> Path:
        return self.directory / "clients" / f"{partner_id}-key.pem"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Coalition (local)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days)))


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _issue_leaf(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str,
                usage: x509.ObjectIdentifier, names: Iterable[str] = ()) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(_name(common_name), ca_cert.subject, key.public_key(), LEAF_DAYS)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                            data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    names = list(names)
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _load_or_make_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), f"{key_path} is not an EC key"
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Coalition local CA")
    cert = (_builder(name, name, key.public_key(), CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert, key


def issue_local_tls(directory: Path, partner_ids: Iterable[str] = (),
                    server_names: Iterable[str] = SERVER_NAMES) -> LocalTls:
    """The CA, the server certificate and a client certificate per partner under `directory` (missing ones issued)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca_cert, ca_key = _load_or_make_ca(directory)
    tls = LocalTls(directory, directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if not (tls.server_cert_file.exists() and tls.server_key_file.exists()):
        names = list(dict.fromkeys(server_names))
        cert, key = _issue_leaf(ca_cert, ca_key, names[0], ExtendedKeyUsageOID.SERVER_AUTH, names)
        _write_key(tls.server_key_file, key)
        _write_cert(tls.server_cert_file, cert)
    for partner_id in partner_ids:
        if not (tls.client_cert_file(partner_id).exists() and tls.client_key_file(partner_id).exists()):
            cert, key = issue_client_certificate(ca_cert, ca_key, partner_id)
            _write_key(tls.client_key_file(partner_id), key)
            _write_cert(tls.client_cert_file(partner_id), cert)
    return tls


def issue_client_certificate(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                             partner_id: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate naming `partner_id` (subject CN), signed by the CA."""
    return _issue_leaf(ca_cert, ca_key, partner_id, ExtendedKeyUsageOID.CLIENT_AUTH)
