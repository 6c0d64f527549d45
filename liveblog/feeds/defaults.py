"""Publishing defaults, in a module of their own: the CLI shows them in --help without
loading the publisher."""

DEFAULT_FEEDS_URL = "http://127.0.0.1:8000/feeds"
DEFAULT_PAGE_SIZE = 50
