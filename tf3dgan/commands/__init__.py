"""Subcommands of the ``tf3dgan`` CLI, one module each (see ``tf3dgan.cli.COMMAND_MODULES``)."""


def add_config_arguments(parser) -> None:
    """``--config PATH`` and repeatable ``--set section.key=value``."""
    parser.add_argument("--config", help="YAML config file (defaults: the paper's 64^3 mit_biasfree net)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one config key (value parsed as YAML); repeatable",
    )
