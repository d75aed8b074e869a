"""Results engine: pure functions that turn a round's ballots into its results."""
