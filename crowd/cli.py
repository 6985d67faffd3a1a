"""``gazecrowd``: the console script, the same as ``python manage.py`` from any folder.

``.venv/bin/gazecrowd serve`` or ``.venv/bin/gazecrowd demo --serve`` work without activating
the virtual environment and from any working directory (the data folder stays where the
settings put it: ``./var`` of the project, or ``GAZECROWD_DATA_DIR``).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowd.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["gazecrowd", *sys.argv[1:]])


if __name__ == "__main__":
    main()
