"""The network's ledger store: all ledger SQL (writes, the earn hot path, reads, read models, verify) with named rows at every boundary."""
