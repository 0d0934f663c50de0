"""A tiny custom executor on pymesos's MesosExecutorDriver, used by the tests.

Each launched task goes RUNNING at once; a task whose data decodes to ``finish`` ends FINISHED; KILL ends a task
KILLED; a framework message is echoed back with an ``echo:`` prefix. It writes its environment to env.json in
its sandbox so tests can check what the agent gave it.
"""

import json
import os
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class EchoExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        with open("env.json", "w") as f:
            json.dump(dict(os.environ), f)
        with open("subscribed.json", "w") as f:
            json.dump({"executor_info": executor_info, "framework_info": framework_info,
                       "agent_info": agent_info}, f)

    def launchTask(self, driver, task):
        def run():
            driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING",
                                     "message": "running from echo executor"})
            if decode_data(task.get("data", "")) == b"finish":
                time.sleep(0.2)
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_FINISHED", "message": "done"})
        threading.Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED", "message": "killed by echo executor"})

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(encode_data(b"echo:" + decode_data(message)))


if __name__ == "__main__":
    MesosExecutorDriver(EchoExecutor()).run()
