"""How another signed service is served next to NetworkService (e.g. settlement's), without importing the server
itself (grpc.aio, uvloop): what a composer passes to network.server.start_server(extra_services=...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from network.signer import NetworkSigner


class ServiceRegistrar(Protocol):
    """What a generated add_*Servicer_to_server(servicer, server) function calls on its server."""

    def add_generic_rpc_handlers(self, handlers) -> None: ...

    def add_registered_method_handlers(self, service_name: str, method_handlers) -> None: ...


@dataclass(frozen=True)
class ServiceRegistration:
    """Another signed service served next to NetworkService (composed by the caller, e.g. settlement)."""

    name: str  # full service name, e.g. "coalition.v1.SettlementService"
    register: Callable[[ServiceRegistrar, NetworkSigner], None]
    mutating_methods: frozenset[str] = frozenset()
