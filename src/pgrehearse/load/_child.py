"""`python -m pgrehearse.load._child`: the load generator process (see LoadProcess)."""

import sys

from pgrehearse.load._clients import child_main

if __name__ == "__main__":
    child_main(sys.stdin.buffer, sys.stdout.buffer)
