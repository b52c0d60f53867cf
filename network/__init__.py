"""The points network: ledger domain, persistence, the signed gRPC service and its interceptor."""
