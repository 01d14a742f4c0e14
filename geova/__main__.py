"""``python -m geova``: the command line, as the ``geova`` entry point (background imports use it)."""

from geova.cli import main

if __name__ == "__main__":
    main()
