"""The framework shell: composition root and CLI, pymesos adapter, runtime loop, stores."""
