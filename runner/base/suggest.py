"""Did you mean: the one rule for which known name someone probably meant.

Unknown keys and values in the schema, unknown connections, tags, step ids and inputs
in the checks of meaning, runbooks and checks asked for by name, and `--param` names
all suggest through `closest`, so one misspelling gets one answer everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: How alike (difflib's ratio) a word and the name it stands for must be: 0.7 keeps
#: real typos (tresholds, runbok, contineu, mian) and drops lookalikes (query is not
#: retry, x is not xy).
CUTOFF = 0.7


def closest(
    word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The choice `word` was probably meant to be, or None: the same letters in another
    case, a known other name for it (`aliases`, lowercase: mssql for tsql, which spelling
    alone would not find), or the nearest spelling above CUTOFF."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    lowered = word.lower()
    if lowered in by_lower:
        return by_lower[lowered]
    alias = (aliases or {}).get(lowered)
    if alias is not None and alias.lower() in by_lower:
        return by_lower[alias.lower()]
    import difflib  # only when a name is not known: never on a run that goes well

    close = difflib.get_close_matches(lowered, list(by_lower), n=1, cutoff=CUTOFF)
    return by_lower[close[0]] if close else None


def did_you_mean(
    word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """ "did you mean 'thresholds'?" when a choice is close to `word`, else None."""
    close = closest(word, choices, aliases)
    return f"did you mean {close!r}?" if close else None
