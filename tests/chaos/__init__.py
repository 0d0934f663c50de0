"""The fault-injection (nemesis) run: harness, clients, nemesis, sampler and checker (issue 18)."""
