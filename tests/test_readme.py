"""The README opens with the two commands and documents every setting the processes read."""

from pathlib import Path

from coalition.settings import CoalitionSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./run up --demo", "./run test"]


def test_every_setting_is_in_the_configuration_table():
    table = README.split("## Configuration", 1)[1].split("## Deployment", 1)[0]
    for name, field in CoalitionSettings.model_fields.items():
        variable = field.validation_alias.choices[0] if field.validation_alias else f"COALITION_{name.upper()}"
        short = variable.split("COALITION_CONSOLE_OIDC")[-1] if "OIDC" in variable else None  # listed as `_CLIENT_SECRET`
        assert variable in table or (short and short in table), f"{variable} is not documented in the README"
