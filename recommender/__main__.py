"""`python -m recommender`: the recommender command, as the console script runs it."""

from indexer.console import run_recommender

run_recommender()
