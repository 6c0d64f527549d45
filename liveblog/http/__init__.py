"""The HTTP front end of `liveblog serve`: uvicorn, the API, the feed files, and the
protections in front of them (token before body, limits, head deadline, connection cap)."""
