"""`python -m scorecast.app`: the `scorecast` command."""

from scorecast.app.cli import main

main()
