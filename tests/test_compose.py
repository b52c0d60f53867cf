"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker engine here): every project service runs
a command the CLI has, with options it accepts, and sets only variables the CoalitionSettings object reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml
from typer._click.exceptions import UsageError  # typer >= 0.20 vendors click: its commands are not click's

from coalition.cli import app
from coalition.settings import CoalitionSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROJECT_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build") is not None}
PROJECT_VARIABLE = re.compile(r"^(COALITION_[A-Z0-9_]+|DATABASE_URL|TEMPORAL_ADDRESS)$")


def settings_variables() -> set[str]:
    """The environment variable names the CoalitionSettings object reads."""
    prefix = CoalitionSettings.model_config["env_prefix"]
    names = set()
    for name, field in CoalitionSettings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add((prefix + name).upper())
        else:
            names.update(str(choice).upper() for choice in getattr(alias, "choices", [alias]))
    return names


def resolve(args: list[str]):
    """The (click) command `coalition <args>` runs, its options parsed: an unknown subcommand or option fails."""
    command = typer.main.get_command(app)
    context = command.make_context("coalition", list(args), resilient_parsing=False)
    while hasattr(command, "commands"):  # a group: descend into the subcommand named next
        name, sub, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        command, context = sub, sub.make_context(name, rest, parent=context, resilient_parsing=False)
    return command


def test_every_part_of_the_system_is_a_service():
    assert {"postgresql", "temporal", "temporal-ui", "network", "worker", "webhooks", "console", "portal",
            "demo-traffic"} <= set(SERVICES)
    assert set(PROJECT_SERVICES) == {"network", "worker", "webhooks", "console", "portal", "demo-traffic"}
    assert SERVICES["demo-traffic"]["profiles"] == ["demo"]
    assert all("profiles" not in s for name, s in SERVICES.items() if name != "demo-traffic")
    temporal = SERVICES["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:") and temporal["environment"]["DB"] == "postgres12"
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["environment"]["DBNAME"] != SERVICES["postgresql"]["environment"]["POSTGRES_DB"]


@pytest.mark.parametrize("service", sorted(PROJECT_SERVICES))
def test_service_command_exists_in_the_cli(service):
    command = PROJECT_SERVICES[service]["command"]
    assert isinstance(command, list) and command[0] == "coalition", command
    resolved = resolve(command[1:])
    assert not hasattr(resolved, "commands") and resolved.callback is not None


@pytest.mark.parametrize("service", sorted(PROJECT_SERVICES))
def test_service_sets_only_variables_settings_reads(service):
    environment = PROJECT_SERVICES[service]["environment"]
    assert isinstance(environment, dict), "use the mapping form, so YAML merges and this test can read it"
    names = set(environment)
    readable = settings_variables()
    assert names <= readable, f"{service} sets variables CoalitionSettings does not read: {sorted(names - readable)}"
    assert all(PROJECT_VARIABLE.match(name) for name in names)
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS"} <= names  # production: never the embedded defaults


def test_network_and_worker_share_the_network_key():
    key_file = {PROJECT_SERVICES[s]["environment"]["COALITION_NETWORK_KEY_FILE"] for s in ("network", "worker")}
    assert len(key_file) == 1
    volumes = [set(PROJECT_SERVICES[s]["volumes"]) for s in ("network", "worker")]
    assert volumes[0] & volumes[1] and Path(key_file.pop()).parent.as_posix() in {
        v.split(":")[1] for v in volumes[0] & volumes[1]}


def test_resolve_refuses_what_the_cli_lacks():
    with pytest.raises(UsageError):
        resolve(["network", "no-such-command"])
    with pytest.raises(UsageError):
        resolve(["network", "serve", "--no-such-option"])


def test_dockerfile_builds_one_image_from_the_pinned_set():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "pip install -c constraints.txt ." in dockerfile
    for package in ("protos", "partners", "network", "settlement", "console", "coalition"):
        assert re.search(rf"^COPY {package} ", dockerfile, re.M), package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".coalition", ".git"} <= set(ignored)


TLS_OVERRIDE = yaml.safe_load((ROOT / "docker-compose.tls.yml").read_text())


def test_tls_override_mounts_the_certificates_the_network_server_reads():
    assert set(TLS_OVERRIDE["services"]) == {"network"}  # an override of the network server only
    network = TLS_OVERRIDE["services"]["network"]
    environment = network["environment"]
    assert {"COALITION_TLS_CERT_FILE", "COALITION_TLS_KEY_FILE", "COALITION_TLS_CLIENT_CA_FILE"} == set(environment)
    assert set(environment) <= settings_variables()
    [mount] = network["volumes"]
    source, target, mode = mount.split(":")
    assert source == "./tls" and mode == "ro"
    assert all(Path(path).is_relative_to(target) for path in environment.values())
    # the health check calls over mutual TLS with files from the same mount, on the port the base file serves
    check = " ".join(network["healthcheck"]["test"])
    assert f"'{target}/' + name" in check and "ssl_channel_credentials" in check
    assert "127.0.0.1:50051" in check and SERVICES["network"]["environment"]["COALITION_GRPC_ADDRESS"].endswith(":50051")
