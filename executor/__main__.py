"""``python -m executor``: the mesospaas executor (see ``executor.main``)."""

import sys

from executor.main import main

sys.exit(main())
