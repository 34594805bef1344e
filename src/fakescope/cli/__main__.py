"""``python -m fakescope.cli``: the same as the ``fakescope`` command."""

from fakescope.cli.main import main

if __name__ == "__main__":
    main()
