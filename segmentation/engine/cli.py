"""The engine's command line: one sub-command per module of :mod:`segmentation.engine.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``
(the exit status). Add a command by writing such a module and naming it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = [
    "segmentation.engine.commands.run",
    "segmentation.engine.commands.export",
    "segmentation.engine.commands.report",
    "segmentation.engine.commands.boxes",
    "segmentation.engine.commands.detector",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m segmentation.engine",
        description="GazeCrowd engine: gaze-based ground truth for videos, volumes and images.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(name)
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        # Bad input: one clear line naming what is wrong, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
