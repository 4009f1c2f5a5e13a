"""``python -m moby_assemble``: the same as the ``moby-assemble`` command."""

from .cli import main

if __name__ == "__main__":
    main()
