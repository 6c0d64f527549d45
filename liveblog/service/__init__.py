"""The service every front end calls, by audience: reporting, importing, reading and
administration (`facade.Liveblog` composes all four), drafts, roles and API tokens."""
