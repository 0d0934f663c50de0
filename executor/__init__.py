"""The mesospaas Mesos executor (``mesospaas-executor``, ``python -m executor``): a separate process on the agent.

It talks to the scheduler only through Mesos (the v1 executor API, through pymesos) and imports nothing from
``scheduler/``, ``api/`` or ``localmesos/``; it uses the standard-library-only core (``mesospaas``: the
executor protocol, the health rules), so that logic exists once. Modules: ``main`` (command line),
``mesos_executor`` (pymesos callbacks -> tasks -> status updates), ``supervisor`` (one task's process tree),
``guard`` (the task's session leader), ``reaper`` (children and orphans), ``health`` (Mesos health checks),
``log_rotation`` (stdout/stderr by size), ``process_tree`` (``/proc``).
"""
