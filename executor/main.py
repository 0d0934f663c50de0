"""``mesospaas-executor`` (also ``python -m executor``): the process a Mesos agent starts for a mesospaas task.

Owns the command line: flags (each with a ``MESOSPAAS_EXECUTOR_<FLAG>`` environment fallback, so the
scheduler can set them through the ExecutorInfo's environment), the executor's own log (``--log-file`` in the
sandbox: the sandbox's ``stdout``/``stderr`` belong to the task, rotated, so the executor's descriptors 1 and
2 are moved to its log file), becoming a child subreaper, SIGTERM/SIGINT handling (kill the tasks, exit) and
running pymesos' driver until the executor is done.

The agent's environment (protocol reference 6.4) is read as Mesos documents it: ``MESOS_AGENT_ENDPOINT``,
``MESOS_FRAMEWORK_ID``, ``MESOS_EXECUTOR_ID`` (required), ``MESOS_SANDBOX``/``MESOS_DIRECTORY``,
``MESOS_CHECKPOINT`` (``"1"``: survive an agent restart), ``MESOS_RECOVERY_TIMEOUT``,
``MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD``. Exit status: 0 after a normal end, 1 when the driver failed, 2 for
bad flags or when not started by a Mesos agent.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

ENV_PREFIX = "MESOSPAAS_EXECUTOR_"
REQUIRED_ENV = ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID")

EPILOG = """environment set by the Mesos agent (read, never set by hand):
  MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID   where to subscribe (required)
  MESOS_SANDBOX (or MESOS_DIRECTORY)                           the sandbox: task logs stdout, stderr, stdout.1...
  MESOS_CHECKPOINT ("1"/"0")                                    "1": wait for a restarting agent, else exit
  MESOS_RECOVERY_TIMEOUT (e.g. 15mins)                          how long to wait for the agent (checkpointing)
  MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD (e.g. 5secs)             time to kill the tasks on SHUTDOWN

Every flag also reads MESOSPAAS_EXECUTOR_<FLAG> (--log-level <- MESOSPAAS_EXECUTOR_LOG_LEVEL); the scheduler
passes them in the ExecutorInfo environment (mesospaas serve --executor-env). The task's command, log rotation
and usage interval come from the scheduler in TaskInfo.data (mesospaas/executor_protocol.py)."""


def _flag(parser: argparse.ArgumentParser, name: str, default: str | None, help_text: str, **kw: object) -> None:
    env = ENV_PREFIX + name.upper().replace("-", "_")
    parser.add_argument(f"--{name}", default=os.environ.get(env, default), help=f"{help_text} (env {env})",
                        **kw)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesospaas-executor", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="The mesospaas Mesos executor: supervises one task, rotates "
                                                 "its logs, runs its Mesos health check, reports its usage")
    _flag(parser, "log-file", "executor.log", "the executor's own log, relative to the sandbox")
    _flag(parser, "log-level", "INFO", "log level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    _flag(parser, "default-kill-grace", "3", "seconds between SIGTERM and SIGKILL when neither the KILL nor "
                                             "the task has a kill policy (Mesos' default)", type=float)
    _flag(parser, "recovery-timeout", None, "seconds to wait for a restarting agent (checkpointing "
                                            "frameworks); default MESOS_RECOVERY_TIMEOUT", type=float)
    _flag(parser, "ack-wait", "60", "seconds to wait for the acknowledgement of the last update before "
                                    "exiting", type=float)
    return parser


def _redirect_output(sandbox: Path, log_file: str) -> None:
    """The sandbox's stdout/stderr are the task's: the executor writes to its own file from here on."""
    path = sandbox / log_file
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        print(f"mesospaas-executor: not started by a Mesos agent ({', '.join(missing)} not set)", file=sys.stderr)
        return 2
    if args.default_kill_grace < 0 or args.ack_wait < 0 or (args.recovery_timeout or 0) < 0:
        parser.error("durations must not be negative")
    sandbox = Path(os.environ.get("MESOS_SANDBOX") or os.environ.get("MESOS_DIRECTORY") or os.getcwd())
    _redirect_output(sandbox, args.log_file)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[%(threadName)s]: %(message)s")
    # Imported after the redirection: nothing of pymesos' writes lands in the task's logs.
    from executor.mesos_executor import ExecutorDriver, MesospaasExecutor, settings_from_environment
    from executor.reaper import Reaper

    settings = settings_from_environment(dict(os.environ), sandbox, recovery_timeout=args.recovery_timeout,
                                         default_kill_grace=args.default_kill_grace)
    settings.ack_wait = args.ack_wait
    reaper = Reaper()
    executor = MesospaasExecutor(settings, reaper)
    driver = ExecutorDriver(executor)
    executor.driver = driver

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).warning("signal %d: killing the tasks and exiting", signum)
        threading.Thread(target=executor.shutdown, args=(driver,), name="signal", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logging.getLogger(__name__).info("mesospaas executor %s starting in %s (pid %d, checkpoint %s, "
                                     "subreaper %s)", os.environ["MESOS_EXECUTOR_ID"], sandbox, os.getpid(),
                                     settings.checkpoint, reaper.subreaper)
    driver.start()
    status = 0
    try:
        while not executor.done.wait(0.5):
            if driver.aborted:
                logging.getLogger(__name__).error("the pymesos driver stopped: killing the tasks")
                executor._give_up()
                status = 1
    except KeyboardInterrupt:  # pymesos interrupts the main thread when its IO thread dies
        logging.getLogger(__name__).error("the pymesos driver failed: killing the tasks")
        executor._give_up()
        status = 1
    driver.stop()
    logging.getLogger(__name__).info("exiting with status %d", status)
    return status


if __name__ == "__main__":
    sys.exit(main())
