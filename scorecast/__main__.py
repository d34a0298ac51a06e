"""`python -m scorecast`: the `scorecast` command (an entry point, run and never imported by the package)."""

from scorecast.app.cli import main

main()
