"""Fault injection and soak runs against the real processes (``alphapulse chaos``, ``e2e/test_faults_*``).

``stack`` starts the pipeline as real processes (relay, collectors, writer, bridge) against an
in-process simulator; ``scenarios`` breaks one thing at a time under load and ``audit`` decides,
from the database and a browser-like client, what was lost, duplicated and how long recovery took.
"""
