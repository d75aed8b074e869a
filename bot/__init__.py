"""The leaderboard bot (rendering and chat channels); arrives with the points ledger."""
