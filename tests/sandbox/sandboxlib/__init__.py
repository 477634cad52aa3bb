"""The Python sandbox tiers' harness: harness.py (Tier), bus.py (Bus), probes.py."""
from . import probes
from .bus import BUS_NAME, CT_IF, DBUS_ERR, ERR, MGR_IF, MGR_PATH, BusError, opath, spec
from .failed import Failed
from .harness import MAKE_SYSTEM, REPO, SANDBOX, U_ALLOWED, U_CHALLENGED, U_DENIED, U_TENANT, U_TENANT2, Tier, now_ms

__all__ = ["probes", "BUS_NAME", "CT_IF", "DBUS_ERR", "ERR", "MGR_IF", "MGR_PATH", "BusError", "opath", "spec",
           "Failed", "MAKE_SYSTEM", "REPO", "SANDBOX", "U_ALLOWED", "U_CHALLENGED", "U_DENIED", "U_TENANT",
           "U_TENANT2", "Tier", "now_ms"]
