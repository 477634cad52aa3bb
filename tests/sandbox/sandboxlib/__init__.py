"""The Python sandbox tiers' harness: harness.py (Tier), bus.py (Bus), probes.py."""
from .bus import BUS_NAME, CT_IF, DBUS_ERR, ERR, MGR_IF, MGR_PATH, BusError, opath, spec  # noqa: F401
from .harness import (MAKE_SYSTEM, REPO, SANDBOX, U_ALLOWED, U_CHALLENGED, U_DENIED, U_TENANT,  # noqa: F401
                      U_TENANT2, Tier, now_ms)
from .failed import Failed  # noqa: F401
from . import probes  # noqa: F401
