"""The game day: every experiment in turn, under load, measured and reported."""
