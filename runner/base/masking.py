"""Secret masking: what must never reach output, history or notifications.

The one place that says what is secret and how it is hidden; steps, the state store,
notifiers and reports call it.

A `Masker` holds the secret values of one run (environment variables that look
secret, every `${VAR}` expanded into a connection string, inputs declared
`secret: true`) and replaces each occurrence with `***`. Two kinds of credentials
are masked even when nobody registered them, because they are recognisable by shape:
the password of a URL (`scheme://user:password@host`) and `PWD=` / `PASSWORD=` in an
ODBC connection string.

Which names mark a secret depends on what a wrong guess costs, so there are three rules:
- `secret_env_names`: environment variables whose values are registered as secrets
  and masked everywhere. Narrow, since a wrong guess blanks out a common value (a
  host name, "/work") in every report.
- `looks_secret`: header, query parameter and JSON key names of a request that a step
  shows (`mask_url`, `mask_mapping`). Broad, since describe() shows a request before
  any secret value is known, and a wrong guess hides one value in one place.
- `is_credential_key`: keys whose whole value is a credential in any mapping masked
  or stored (Authorization, Cookie). Exact, since it applies to SQL rows too.

`mask()` runs on every value the state store keeps and every line a report prints,
so the path with no secrets registered does two substring tests and returns.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from runner.base.decimals import is_decimal

MASK = "***"

#: Shorter values would mask half of every text ("abc", "1", "on").
MIN_SECRET_LENGTH = 4

#: Values that variables such as PRIVATE_NETWORK=true hold; masking them would
#: blank out every boolean in a report without protecting anything.
_NOT_SECRET_VALUES = frozenset({"true", "false", "none", "null", "unset", "empty"})

# userinfo may not hold "/", "?", "#" or "@" unencoded (RFC 3986), which keeps
# "https://host:8080/path@x" from being read as a password.
_URL_PASSWORD = re.compile(
    r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<secret>[^/?#@\s]+)(?=@)"
)

# ODBC values may be braced to hold ";" ({a;b}, with "}}" as an escaped brace).
_ODBC_PASSWORD = re.compile(
    r"(?P<keep>\b(?:PWD|PASSWORD|PASSWD)\s*=\s*)(?P<secret>\{(?:[^}]|\}\})*\}|[^;\r\n]+)",
    re.IGNORECASE,
)

# Environment variable names: markers that are safe to find anywhere in the name...
_SECRET_NAME_PARTS = ("PASSWORD", "PASSWD", "SECRET", "CREDENTIAL", "API_KEY", "APIKEY", "PRIVATE")
# ...and short ones that must end a word, so TOKENIZERS_PARALLELISM is not a secret
# while GITHUB_TOKEN, APITOKEN and DB_PWD are.
_SECRET_WORD_ENDINGS = ("TOKEN", "TOKENS", "PWD")
# The shell's working directories, not passwords.
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})
_WORD_SPLIT = re.compile(r"[^A-Z0-9]+")

# Header, query parameter and JSON key names of a request shown by a step.
_SECRET_REQUEST_NAME = re.compile(r"auth|cookie|token|key|secret|passw|credential", re.I)

# HTTP headers whose whole value is a credential, masked in mappings by key.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

T = TypeVar("T")

#: How many mapping keys a Masker remembers masked (a bound for a long-lived process).
_KEYS_KEPT = 4096


class Masker:
    """Replaces registered secrets, URL passwords and ODBC passwords with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked as a whole.
        # Replaced (never mutated) under the lock, so mask() may read it without one.
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()
        # Mapping keys as masked, and whether each names a credential, for the secrets
        # they were masked with: the 10,000 rows of a query repeat the same few keys.
        self._keys: dict[str, tuple[str, bool]] = {}
        self._keys_for: tuple[str, ...] = ()
        # Secrets that are numbers (a secret input of type integer, a PIN): a value equal
        # to one is masked whole, as a number in a row or a result is never text.
        self._numbers: frozenset[int | float] = frozenset()
        self.add_many(secrets)

    def add(self, value: str) -> None:
        """Register one secret value, with the encoded forms it takes in URLs and JSON."""
        if not isinstance(value, str):
            value = str(value)
        forms = {value, value.strip()}
        for form in list(forms):
            forms.update((quote(form, safe=""), quote_plus(form), json.dumps(form)[1:-1]))
        kept = {
            form
            for form in forms
            if len(form) >= MIN_SECRET_LENGTH and form.lower() not in _NOT_SECRET_VALUES
        }
        if not kept:
            return
        numbers = {number for form in kept if (number := _number(form)) is not None}
        with self._lock:
            known = set(self._secrets) | kept
            self._secrets = tuple(sorted(known, key=lambda s: (-len(s), s)))
            if numbers:
                self._numbers = self._numbers | numbers

    def add_many(self, values: Iterable[str]) -> None:
        for value in values:
            self.add(value)

    def add_env(self, environ: Mapping[str, str]) -> None:
        """Register the values of every variable `secret_env_names` picks out."""
        for name in secret_env_names(environ):
            self.add(environ[name])

    def mask_text(self, text: str) -> str:
        secrets = self._secrets
        if secrets:
            text = _mask_registered(text, secrets)
        if "@" in text and "://" in text:
            text = _URL_PASSWORD.sub(rf"\g<keep>{MASK}", text)
        if "=" in text:
            text = _ODBC_PASSWORD.sub(_mask_odbc_match, text)
        return text

    def mask(self, obj: T) -> T:
        """A deep copy of str/dict/list/tuple/set data with every secret masked.

        Keys are masked too, and the values of credential headers (Authorization,
        Cookie, ...) are replaced whole, as are numbers equal to a secret number. Other
        types (datetimes, objects) are returned as they are.
        """
        # The copy has the shape of `obj` (one made of any Mapping is a dict).
        return cast(T, self._mask(obj))

    def _mask(self, obj: Any) -> Any:
        if obj is None or type(obj) in _SCALARS:  # most values: no ABC checks for them
            return self._mask_number(obj) if self._numbers else obj
        if isinstance(obj, str):
            return self.mask_text(obj)
        if type(obj) is dict or isinstance(obj, Mapping):
            keys = self._keys
            if self._keys_for is not self._secrets:  # a secret was added: mask keys again
                keys = self._keys = {}
                self._keys_for = self._secrets
            masked = {}
            for key, value in obj.items():
                if type(key) is not str:
                    masked[self._mask(key)] = self._mask(value)
                    continue
                known = keys.get(key)
                if known is None:
                    known = (self.mask_text(key), is_credential_key(key))
                    if len(keys) < _KEYS_KEPT:
                        keys[key] = known
                if value and known[1]:
                    masked[key] = MASK
                elif value is None or type(value) in _SCALARS:  # a number: no call for it
                    masked[known[0]] = self._mask_number(value) if self._numbers else value
                else:
                    masked[known[0]] = self._mask(value)
            return masked
        if isinstance(obj, list):
            if obj and type(obj[0]) is dict:
                rows = self._mask_rows(obj)
                if rows is not None:
                    return rows
            return [self._mask(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._mask(item) for item in obj)
        if isinstance(obj, (set, frozenset)):
            return type(obj)(self._mask(item) for item in obj)
        if self._numbers:  # a Decimal (a NUMERIC column through pyodbc) may be one
            return self._mask_number(obj)
        return obj

    def _mask_number(self, value: Any) -> Any:
        """`***` for an int, float or Decimal equal to a secret number (never a bool:
        True == 1)."""
        if type(value) in (int, float):
            return MASK if value in self._numbers else value
        if is_decimal(value) and value.is_finite():  # NaN: no number; sNaN: unhashable
            return MASK if value in self._numbers else value
        return value

    def _mask_rows(self, rows: list[Any]) -> list[dict[Any, Any]] | None:
        """The rows of a query (10,000 of `SELECT id`, say) masked in one go, when every
        row is a dict with the first row's keys and holds only numbers, booleans and
        None: then no value can hold a secret, and the keys, checked once, are left as
        they are by masking and name no credential. The copies equal what masking row
        by row makes; None when some row is otherwise (masked row by row then)."""
        if self._numbers:  # a value may be a secret number: row by row
            return None
        keys = rows[0].keys()
        for key in keys:
            if type(key) is not str or is_credential_key(key) or self.mask_text(key) != key:
                return None
        copies = []
        for row in rows:
            if (
                type(row) is not dict
                or row.keys() != keys
                or not _PLAIN_VALUES.issuperset(map(type, row.values()))
            ):
                return None
            copies.append(row.copy())
        return copies


def _number(text: str) -> int | float | None:
    """The number a secret's text spells (`"4711"`, `"3.5"`), or None; None too when the
    number, written as Python writes it (`str` of an int, `repr` of a float), is shorter
    than MIN_SECRET_LENGTH: the text "0001" is long enough to be a secret, but masking
    every 1 would blank out half of every result, as " 12 " every 12 and "1.00" every 1."""
    number: int | float
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return number if len(repr(number)) >= MIN_SECRET_LENGTH else None
    return number if len(str(number)) >= MIN_SECRET_LENGTH else None


def is_credential_key(key: object) -> bool:
    """True for mapping keys whose whole value is a credential (HTTP Authorization, Cookie)."""
    return isinstance(key, str) and key.lower() in _SECRET_HEADERS


def looks_secret(name: object) -> bool:
    """Whether a header, parameter or key name of a request suggests its value is a
    secret: auth, cookie, token, key, secret, passw or credential in it, in any case."""
    return bool(_SECRET_REQUEST_NAME.search(str(name)))


def mask_url(url: Any) -> str:
    """The URL with its password and the values of secret-looking query parameters
    replaced by ***."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(looks_secret(name) for name, _ in pairs):
            query = urlencode([(n, MASK if looks_secret(n) else v) for n, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def mask_mapping(value: Any) -> Any:
    """`value` with the values of secret-looking keys replaced by ***, at any depth."""
    if isinstance(value, Mapping):
        return {k: MASK if looks_secret(k) else mask_mapping(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_mapping(item) for item in value]
    return value


def _mask_registered(text: str, secrets: tuple[str, ...]) -> str:
    """Mask every occurrence of every secret, merging overlaps into one `***`.

    Overlapping occurrences of two secrets ("abcd1234" and "1234wxyz" in
    "abcd1234wxyz") leave no piece of either behind, which replacing one secret
    after another would.
    """
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    position = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start <= current_end:
            current_end = max(current_end, end)
            continue
        pieces += [text[position:current_start], MASK]
        position = current_end
        current_start, current_end = start, end
    pieces += [text[position:current_start], MASK, text[current_end:]]
    return "".join(pieces)


def _mask_odbc_match(match: re.Match[str]) -> str:
    if match.group("secret").strip() in ("", MASK):
        return match.group(0)
    return match.group("keep") + MASK


def secret_env_names(environ: Mapping[str, str]) -> set[str]:
    """Names of environment variables whose values are secrets, judged by name.

    PASSWORD, PASSWD, SECRET, CREDENTIAL, API_KEY, APIKEY and PRIVATE anywhere in the
    name (case-insensitive); TOKEN and PWD only at the end of a word part (GITHUB_TOKEN,
    DB_PWD, not TOKENIZERS_PARALLELISM). The shell's own PWD and OLDPWD are paths.
    """
    names = set()
    for name in environ:
        upper = name.upper()
        if upper in _NOT_SECRET_NAMES:
            continue
        if any(part in upper for part in _SECRET_NAME_PARTS) or any(
            word.endswith(_SECRET_WORD_ENDINGS) for word in _WORD_SPLIT.split(upper) if word
        ):
            names.add(name)
    return names


def mask_env(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` with the values of `secret_env_names` replaced by ***."""
    hidden = secret_env_names(environ)
    return {name: MASK if name in hidden else value for name, value in environ.items()}


_SCALARS = frozenset({int, float, bool})
#: The types of values no secret can be in: masking returns them as they are.
_PLAIN_VALUES = frozenset({int, float, bool, type(None)})


def mask_run(run: Any, mask: Callable[[Any], Any]) -> None:
    """Mask, in place, every text of a RunResult that could carry a secret."""
    run.error = mask(run.error) if run.error else run.error
    _mask_steps(run.steps, mask)


def _mask_steps(steps: list[Any], mask: Callable[[Any], Any]) -> None:
    # A module function rather than a recursive closure: a closure that calls itself
    # is a reference cycle, which kept `mask` (and its Masker) alive until a full
    # collection.
    for step in steps:
        step.values = mask(step.values)
        step.error = mask(step.error) if step.error else step.error
        step.rendered = mask(step.rendered) if step.rendered else step.rendered
        step.statement = mask(step.statement) if step.statement else step.statement
        step.hint = mask(step.hint) if step.hint else step.hint  # a rendered template
        step.title = mask(step.title)
        step.item = mask(step.item)
        for evaluation in step.evaluations:
            evaluation.text = mask(evaluation.text)
            # The value (a secret number selected back) and the limits (templated from a
            # secret input) are numbers: masked whole when they equal a secret number.
            evaluation.value = mask(evaluation.value)
            evaluation.warning = mask(evaluation.warning)
            evaluation.critical = mask(evaluation.critical)
        summary = step.items_summary
        if summary is not None and summary.ok_values:  # a for_each's folded OK items
            summary.ok_values = {
                name: {
                    key: number if key == "count" else mask(number) for key, number in agg.items()
                }
                for name, agg in summary.ok_values.items()
            }
        for attempt in step.attempts:
            attempt.error = mask(attempt.error) if attempt.error else attempt.error
        _mask_steps(step.children, mask)
