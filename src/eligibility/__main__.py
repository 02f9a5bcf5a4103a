"""`python -m eligibility`: the same command line as `eligibility`."""

from eligibility.cli.main import main

if __name__ == "__main__":
    main()
