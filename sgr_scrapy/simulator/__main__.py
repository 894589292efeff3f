"""``python -m sgr_scrapy.simulator``: run the local SoundCloud API simulator."""

from __future__ import annotations

import sys

from sgr_scrapy.simulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
