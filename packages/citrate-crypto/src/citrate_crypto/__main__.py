"""`python -m citrate_crypto` runs the `citrate` command."""

from citrate_crypto._entry import main

main()
