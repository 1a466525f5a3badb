"""Every game day remembered, scored and compared (docs/history.md).

``schema`` and ``migrations/`` (the versioned tables), ``store`` (open, migrate, read, write), ``records`` (a
report or a smoke turned into rows; ``gameday runs import``), ``score`` (the resilience score), ``compare`` (two
runs side by side), ``gate`` (the regression gate's decisions), ``remember`` (the one call at the end of a game
day or a smoke, and the gate over a finished game day), ``cli`` (``gameday runs`` and ``gameday compare``).
"""
