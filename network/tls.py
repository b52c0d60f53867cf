"""TLS on the gRPC listener: the server's credentials from the settings, and the partner a client certificate names.

Mutual TLS (settings.tls_client_ca_file): a partner's client certificate names the partner in its subject's common
name (CN=<partner_id>), signed by a CA the network trusts. The interceptor (network.interceptor) refuses a signed
call whose certificate names another partner than the signing key's (PERMISSION_DENIED /
CERTIFICATE_PARTNER_MISMATCH), before the call runs: nothing is written.
"""

from __future__ import annotations

import grpc

from network import errors
from network.errors import DomainError
from network.settings import NetworkSettings

_COMMON_NAME = "x509_common_name"  # grpc's auth context property: the verified peer certificate's subject CN


def server_credentials(settings: NetworkSettings) -> grpc.ServerCredentials | None:
    """The listener's TLS credentials, or None for plaintext (no certificate configured)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        if settings.tls_client_ca_file is not None:
            raise ValueError("COALITION_TLS_CLIENT_CA_FILE (mutual TLS) needs COALITION_TLS_CERT_FILE and "
                             "COALITION_TLS_KEY_FILE")
        return None
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials([(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
                                      root_certificates=client_ca, require_client_auth=client_ca is not None)


def certificate_partner(auth_context: dict) -> str | None:
    """The partner id a verified client certificate names (its subject CN); None without a client certificate."""
    names = auth_context.get(_COMMON_NAME) or []
    return names[0].decode("utf-8", "replace") if names else None


def certificate_refusal(auth_context: dict, partner_id: str) -> DomainError | None:
    """Why a call signed by `partner_id`'s key is refused on this connection's client certificate (None: it is not)."""
    named = certificate_partner(auth_context)
    if named == partner_id:
        return None
    presented = f"names partner {named}" if named else "names no partner (no subject CN)"
    return errors.denied("CERTIFICATE_PARTNER_MISMATCH",
                         f"the client certificate {presented}; the request is signed by a key of partner {partner_id}")
