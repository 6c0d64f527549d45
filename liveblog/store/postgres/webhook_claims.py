"""A stub until helper G's file is merged (G owns this module): claims as leases."""

from __future__ import annotations

CLAIMS_DDL = ""
"""G's claims table, appended to the configuration DDL (config_schema.CONFIG_DDL)."""


class WebhookClaimsMixin:
    pass
