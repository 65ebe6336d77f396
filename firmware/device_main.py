"""Old name of the device process, kept as an alias for one release.

Appliance units installed before the move run ``python -m firmware.device_main``;
the device process is now ``python -m firmware.device.main`` (``firmware/device/main.py``).
This module only runs that entry point, with the same arguments and exit status.
Remove it once the installed units name ``firmware.device.main``.
"""

import sys

from firmware.device.main import main

if __name__ == "__main__":  # pragma: no cover (tests run it as a process)
    sys.exit(main())
