"""`python -m loadgen`: the same CLI as the `loadgen` command."""

from loadgen.cli import main

if __name__ == "__main__":
    main()
