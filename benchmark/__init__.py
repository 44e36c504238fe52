"""benchmark: aggregator registry, training stages, feature cache, runner and leaderboard."""
