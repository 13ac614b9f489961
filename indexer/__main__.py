"""`python -m indexer`: the indexer command, as the console script runs it."""

from indexer.console import run_indexer

run_indexer()
