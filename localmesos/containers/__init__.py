"""Light containers for localmesos tasks that ask for one (the Mesos containerizer's part of a real agent).

``validation`` (what the master refuses), ``image_store`` (Mesos' local Docker registry: ``docker save``
tarballs in ``--docker-registry DIR``, unpacked once), ``launch`` (the process that enters new mount, PID, UTS,
IPC and network namespaces and chroots into the image), ``port_forward`` (host port -> container port for
``mesos-bridge`` networking, in user space) and ``task`` (the runner the agent uses for such tasks, with the
failures a real agent reports). Nothing here imports the framework.
"""
