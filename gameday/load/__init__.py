"""Load: locust in a subprocess (runner), the per-second timeline it writes (timeline), and its plugin.

Importing this package never imports locust: ``locust_timeline.py`` is loaded by locust itself.
"""
