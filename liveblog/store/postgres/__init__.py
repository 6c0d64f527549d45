"""The PostgreSQL implementation of the store protocols (`liveblog.store.eventstore`).

Chosen by a URL (`--db postgresql://…` / `LIVEBLOG_DB`) through `liveblog.store.factory`;
code outside `liveblog/store/` never imports it. `driver` wraps psycopg 3 and its pool and
maps its errors; `schema` holds the versioned migrations; `log` is the event store;
`stores` builds the sub-stores on the event store's connection (one unit of work).
"""
