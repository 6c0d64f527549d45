"""The command-line front ends: the click CLI (`main`), the remote CLI and its outbox
(`remote`), the one-line output (`lines`), and text from a server made safe to print."""
