"""`python -m eligibility.cli`: the same command line as `eligibility`."""

from eligibility.cli.main import main

main()
