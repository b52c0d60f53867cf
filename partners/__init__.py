"""The partner SDK: coalition-sig-v1 signing, the signed client, typed errors, the partner CLI, a POS simulator."""
