"""`python -m eligibility`: the same command line as `eligibility`."""

from .cli import main

if __name__ == "__main__":
    main()
