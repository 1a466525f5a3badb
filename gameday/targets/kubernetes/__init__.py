"""The kubernetes target (:mod:`.target`): the runbook's operations on a cluster, through the official ``kubernetes``
client. The package imports nothing itself, so that its light modules (:mod:`.cluster`, :mod:`.allowlist`) cost no
more than they are."""
