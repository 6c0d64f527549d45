from __future__ import annotations

from collections.abc import Callable

from click.testing import Result


def test_a_reporter_covers_a_talk(invoke: Callable[..., Result], day_open: None) -> None:
    result = invoke(
        "session", "start", "Opening plenary", "--kind", "plenary", "--at", "2011-06-09T09:30"
    )
    assert result.exit_code == 0, result.output
    result = invoke(
        "talk", "start", "The cloud", "--speaker", "Andy Burns", "--at", "2011-06-09T09:35"
    )
    assert result.exit_code == 0
    result = invoke("quote", "We must share services", "--at", "2011-06-09T09:40")
    assert result.exit_code == 0
    assert "quote.captured" in result.output
    assert "Andy Burns" in result.output
    exported = invoke("export").output.splitlines()
    assert len(exported) == 5
