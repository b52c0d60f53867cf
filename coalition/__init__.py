"""The `coalition` command line: composes the network, settlement, console and the one-command runner."""
