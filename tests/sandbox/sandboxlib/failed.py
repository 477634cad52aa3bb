"""The exception a check raises to fail with a reason (harness.Tier.check)."""


class Failed(Exception):
    """A check's reason for failing, shown after its FAIL line."""
