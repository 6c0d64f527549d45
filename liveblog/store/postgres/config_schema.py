"""The configuration tables on PostgreSQL (webhooks, tokens): migration m002's DDL.

A stub until helper C's version is merged: the migration runs it as it is.
"""

CONFIG_DDL = ""
