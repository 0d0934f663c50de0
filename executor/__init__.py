"""The custom Mesos executor for mesospaas tasks. Imports nothing else from this repository."""
