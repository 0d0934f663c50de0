"""mesospaas core: domain types and pure decisions (placement, reconciliation, deployment planning).

The core imports only the standard library. It reads no clock and no global random state: ``now`` and
``rng`` are always arguments. The shell (``scheduler``, ``api``) performs every side effect.
"""
