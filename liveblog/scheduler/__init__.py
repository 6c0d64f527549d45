"""The scheduler of `run` and `serve`: it only triggers (the one catch-up, webhook
delivery, publishing) and the jobs' executor. Which node leads is the store's
leadership "scheduler" (`Stores.leadership`: a flock on SQLite, an advisory lock on
PostgreSQL)."""
