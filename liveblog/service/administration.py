"""Administration: bearer tokens for remote reporters, webhook subscriptions and their
deliveries, the key for secrets at rest (the `token`, `webhook` and `secret-key`
commands; `run` and `serve` check the secrets before starting)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import roles
from .base import ServicePart, author_name

if TYPE_CHECKING:
    from ..webhooks import Delivery, Subscription
    from .tokens import TokenInfo


class Administration(ServicePart):
    """Changes the configuration tables (tokens, webhooks), never the log."""

    # -- tokens for remote reporters --------------------------------------------------

    def create_token(self, name: str, role: roles.Role = roles.REPORTER) -> str:
        """A new bearer token posting as reporter `name` with `role` (shown once: only
        its digest is kept)."""
        from . import tokens

        return tokens.create(self._writable_tokens, author_name(name), role)

    def tokens(self) -> list[TokenInfo]:
        from . import tokens

        return tokens.listing(self._tokens)

    def revoke_token(self, name: str) -> None:
        from . import tokens

        tokens.revoke(self._writable_tokens, author_name(name))

    def add_webhook(
        self,
        url: str,
        *,
        events: Iterable[str] = (),
        conference: str | None = None,
        secret: str | None = None,
        allow_private: bool = False,
        since: int | None = None,
    ) -> Subscription:
        """Subscribe `url`; its address must be public unless `allow_private`."""
        from ..webhooks import check_address, parse_url
        from ..webhooks.secretkey import Keyring
        from ..webhooks.subscriptions import add, check

        check(url, events, conference, secret, since)
        self.log.require_writable()
        check_address(parse_url(url), allow_private)
        return add(
            self._writable_hooks,
            url,
            events=events,
            conference=conference,
            secret=secret,
            allow_private=allow_private,
            since=since,
            keyring=Keyring(self._location),
        )

    def check_webhook_secrets(self) -> int:
        """Refuse (one line naming the key file or LIVEBLOG_SECRET_KEY) unless every
        active subscription's secret decrypts: `run` and `serve` check before starting."""
        from ..webhooks.secretkey import Keyring
        from ..webhooks.subscriptions import check_secrets

        return check_secrets(self._hooks, Keyring(self._location))

    def rotate_secret_key(self) -> tuple[int, str]:
        """Re-encrypt every webhook secret under a new key: (how many, its key id)."""
        from ..webhooks.secretkey import Keyring
        from ..webhooks.subscriptions import rotate_key

        return rotate_key(self._writable_hooks, Keyring(self._location))

    def webhooks(self) -> list[Subscription]:
        from ..webhooks.subscriptions import all_subscriptions

        return all_subscriptions(self._hooks)

    def remove_webhook(self, ref: str) -> Subscription:
        from ..webhooks.subscriptions import remove

        return remove(self._writable_hooks, ref)

    def enable_webhook(self, ref: str) -> Subscription:
        from ..webhooks.subscriptions import set_status

        return set_status(self._writable_hooks, ref, "active")

    def disable_webhook(self, ref: str) -> Subscription:
        from ..webhooks.subscriptions import set_status

        return set_status(self._writable_hooks, ref, "disabled", "disabled by hand")

    def deliveries(
        self, subscription: str | None = None, *, status: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        from ..webhooks.queue import listing

        return listing(self._hooks, subscription, status=status, limit=limit)

    def redeliver(self, delivery_id: int) -> Delivery:
        import time

        from ..webhooks.queue import redeliver_one

        return redeliver_one(self._writable_hooks, delivery_id, time.time())

    def redeliver_since(self, position: int, subscription: str | None = None) -> list[Subscription]:
        from ..webhooks.queue import redeliver_since

        return redeliver_since(self._writable_hooks, position, subscription)
