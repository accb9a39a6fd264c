"""``seedlock model``: the group of model-file commands, assembled in one place.

``scan`` and ``resolve`` belong to pin, ``build-tiny`` to replay; each stays in its
capability's module and is listed here, so no command is attached by an import's side effect.
"""

from __future__ import annotations

import click

from seedlock.cli.pin import resolve_cmd, scan_cmd
from seedlock.cli.replay import build_tiny_cmd


@click.group("model")
def model_group() -> None:
    """Index local model folders, resolve a record's models, build the tiny test model."""


model_group.add_command(scan_cmd)
model_group.add_command(resolve_cmd)
model_group.add_command(build_tiny_cmd)
