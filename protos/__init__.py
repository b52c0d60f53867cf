"""The wire contract: coalition.v1 .proto files and the Python code generated from them.

Importing this package (every other package of the project imports it first, in its own `__init__`) turns gRPC
core's fork handlers off for the process, before gRPC is loaded: `GRPC_ENABLE_FORK_SUPPORT=false`, unless the
environment says otherwise. With them on (gRPC core's default in the grpcio wheel), a child that a process with
gRPC calls in flight starts through a plain fork (pgserver's pg_ctl and initdb, run as another user) can die
from a signal in those handlers before it execs, and the parent's own poller can lose its file descriptor
(README.md, "Configuration"). No process here uses gRPC in a forked child: every child is a
new program (exec) or a spawned interpreter.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
