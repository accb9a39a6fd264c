"""Command-line interface: thin click commands over the library. Heavy imports are lazy
so that ``seedlock read`` on a folder starts fast."""

from __future__ import annotations

import click

from seedlock._version import __version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from seedlock._compiled import build_label

    click.echo(f"seedlock, version {__version__} ({build_label()})")
    ctx.exit()


class _LazyGroup(click.Group):
    """Import each command's module only when it runs (or when help lists it)."""

    _commands: dict[str, tuple[str, str]] = {
        "read": ("seedlock.cli.read", "read_cmd"),
        "demo": ("seedlock.cli.demo", "demo_cmd"),
        "diff": ("seedlock.cli.diff", "diff_cmd"),
        "lint-prompt": ("seedlock.cli.diff", "lint_cmd"),
        "hash": ("seedlock.cli.pin", "hash_cmd"),
        "lock": ("seedlock.cli.pin", "lock_cmd"),
        "check-lock": ("seedlock.cli.pin", "check_lock_cmd"),
        "model": ("seedlock.cli.model", "model_group"),
        "catalog": ("seedlock.cli.catalog", "catalog_group"),
        "api": ("seedlock.cli.api", "api_group"),
        "comfy": ("seedlock.cli.comfy", "comfy_group"),
        "generate": ("seedlock.cli.replay", "generate_cmd"),
        "replay": ("seedlock.cli.replay", "replay_cmd"),
        "verify": ("seedlock.cli.replay", "verify_cmd"),
        "trace-diff": ("seedlock.cli.replay", "trace_diff_cmd"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._commands) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._commands:
            import importlib

            module, attr = self._commands[cmd_name]
            cmd: click.Command = getattr(importlib.import_module(module), attr)
            return cmd
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version (and whether the read path is compiled) and exit.",
)
def cli() -> None:
    """Make diffusion images reproducible, and explain why they are not."""


def main() -> None:
    cli(prog_name="seedlock")
