"""`python -m ledger …`: the `ledger` command, for the processes `ledger serve` starts itself."""

from ledger.cli import main

main()
