"""``python -m dimrec`` is the ``dimrec`` command."""

from dimrec.cli import main

main()
