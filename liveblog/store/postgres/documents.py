"""Feed documents kept in PostgreSQL: migration m003's DDL.

A stub until helper D2's version is merged: the migration runs it as it is.
"""

DOCUMENTS_DDL = ""
