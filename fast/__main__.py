"""``python -m fast``: the command line (:mod:`fast.cli`)."""

from fast.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
