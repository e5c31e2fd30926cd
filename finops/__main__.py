"""`python -m finops`: the same as the `finops` command."""

from finops.cli import main

main()
