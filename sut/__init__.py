"""Reference systems under test for the gameday suite (deployable on their own, no gameday imports)."""
