"""``python -m featurize``: the command-line interface."""

from featurize.cli import main

main()
