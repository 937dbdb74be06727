"""Start and stop the local nodes we depend on (anvil, Kubo) as child processes on loopback.

Used by `certreg up`, by the scripts and by the test fixtures, so that every one of
them runs the real binaries with the same configuration.
"""
