"""Tenants: who may do what on which ids, and how much of the cluster each tenant may hold.

Pure decisions only (standard library; no clock, no global random: token bytes and salts are arguments):

- ``grants``: roles (``read`` < ``deploy`` < ``admin``) granted on id prefixes (``/team-a/**``), and the
  tenant of a job id (``team-a.nightly`` belongs to ``/team-a``).
- ``principals``: who can sign in, their salted scrypt token hashes, the principals file format.
- ``quota``: per-prefix limits on cpus, mem, disk and instances, and the admission arithmetic.
"""

from mesospaas.tenancy.grants import Action, Grant, Role, job_tenant, parse_grant, prefix_matches
from mesospaas.tenancy.principals import Principal, PrincipalsFile, TokenHash
from mesospaas.tenancy.quota import Quota, QuotaExceeded, Usage, quota_violations

__all__ = ["Action", "Grant", "Principal", "PrincipalsFile", "Quota", "QuotaExceeded", "Role", "TokenHash", "Usage",
           "job_tenant", "parse_grant", "prefix_matches", "quota_violations"]
