"""The reader's pages: the live page, the embed page and their shared entry fragment."""
