"""The CLI reference (docs/cli.md), generated from the commands' own ``--help``.

``python -m seedlock.cli._reference > docs/cli.md`` writes it; a test fails when the file
and the commands disagree, or when a command has no help text.
"""

from __future__ import annotations

import click

#: fixed width, so the page does not depend on the terminal it was made in
WIDTH = 100


def _walk(cmd: click.Command, path: list[str], ctx_parent: click.Context | None) -> list[tuple[list[str], str]]:
    settings = {**cmd.context_settings, "max_content_width": WIDTH, "terminal_width": WIDTH}
    ctx = click.Context(cmd, info_name=path[-1], parent=ctx_parent, **settings)
    out = [(path, cmd.get_help(ctx))]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.extend(_walk(sub, [*path, name], ctx))
    return out


def commands() -> list[tuple[list[str], click.Command]]:
    """Every command and group, by its words on the command line."""
    from seedlock.cli import cli

    found: list[tuple[list[str], click.Command]] = []

    def visit(cmd: click.Command, path: list[str]) -> None:
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path[-1])
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    visit(sub, [*path, name])

    visit(cli, ["seedlock"])
    return found


def render_reference() -> str:
    from seedlock.cli import cli

    lines = [
        "# Command-line reference",
        "",
        "Generated from each command's `--help` by `python -m seedlock.cli._reference > docs/cli.md`;",
        "a test keeps this page and the commands in step.",
        "",
    ]
    for path, text in _walk(cli, ["seedlock"], None):
        lines += [f"## `{' '.join(path)}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
