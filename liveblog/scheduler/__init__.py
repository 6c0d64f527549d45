"""The scheduler of `run` and `serve`: it only triggers (the one catch-up, webhook
delivery, publishing); the jobs' executor and the one-scheduler-per-log lock."""
