"""``python -m vocable`` runs the CLI."""

from vocable.cli import main

main()
