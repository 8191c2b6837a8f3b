"""The size bounds of the template sandbox: what one template operation may make.

Jinja's sandbox stops unsafe attribute access and bounds `range` (MAX_RANGE), but not the
size of a string a format, a repetition, a power or a padding method makes:
`'%0999999999d' | format(1)` took 12 s and 3 GB. `BoundedSandbox` and the bounded
`format`, `center` and `indent` filters refuse such an operation before doing the work,
with a TemplateError that says how much it would have made.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter

from runner.base.errors import TemplateError

#: The most characters (or items) one template operation or a whole rendering may make,
#: as Jinja's sandbox bounds `range` with MAX_RANGE: `'%0999999999d' | format(1)` would
#: otherwise take gigabytes and seconds before anything could say no.
MAX_OUTPUT = 1_000_000
# A width or precision in a `%` format (`%0999d`, `%.5f`, `%*d`).
_PERCENT_SIZES = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
# A width or precision in a str.format spec (`{:>999}`, `{:.9f}`).
_SPEC_SIZES = re.compile(r"\d+")
# str methods whose first argument is a width.
_PADDING_METHODS = frozenset(("center", "ljust", "rjust", "zfill", "expandtabs"))


def too_large(what: str, size: int) -> TemplateError:
    return TemplateError(
        f"{what} would make {size:,} characters, more than a template may ({MAX_OUTPUT:,}); "
        "templates make short texts: compute large values in SQL or a command"
    )


def _check_size(what: str, size: int) -> None:
    if size > MAX_OUTPUT:
        raise too_large(what, size)


def _check_percent(fmt: str, values: Any) -> None:
    """Refuse a `%` format whose widths or precisions alone exceed the limit."""
    for match in _PERCENT_SIZES.finditer(fmt):
        for number in match.groups():
            if number == "*":  # the width is one of the values
                for value in values if isinstance(values, tuple) else (values,):
                    if isinstance(value, int) and value > MAX_OUTPUT:
                        raise too_large("this % format", value)
            elif number and (len(number) > 7 or int(number) > MAX_OUTPUT):
                raise too_large("this % format", int(number[:40]))


def _check_spec(spec: str) -> None:
    for number in _SPEC_SIZES.findall(spec):
        if len(number) > 7 or int(number) > MAX_OUTPUT:
            raise too_large("this format", int(number[:40]))


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with the size of what one operation may make bounded."""

    intercepted_binops = frozenset(("*", "%", "**", "+"))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int):
                    _check_size("this repetition", size * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                _check_size("this product", (left.bit_length() + right.bit_length()) * 3 // 10)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
            result = left % right
            _check_size("this % format", len(result))
            return result
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0:
                _check_size("this power", int(right * math.log10(abs(left))) + 1)  # digits
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if left_size is not None and right_size is not None:
                _check_size("this sum", left_size + right_size)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        name = getattr(__obj, "__name__", None)
        if name in _PADDING_METHODS and isinstance(getattr(__obj, "__self__", None), str):
            width = args[0] if args else next(iter(kwargs.values()), 0)
            if isinstance(width, int):
                size = width * (len(__obj.__self__) if name == "expandtabs" else 1)
                _check_size(f"str.{name}", size)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """`'{:>999999999}'.format(x)`: each field's spec is checked once it is known."""
        if super().wrap_str_format(value) is None:
            return None
        text: str = value.__self__
        is_format_map = value.__name__ == "format_map"
        formatter = _BoundedFormatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one mapping")
                kwargs, args = args[0], ()
            result = formatter.vformat(text, args, kwargs)
            _check_size("this format", len(result))
            return result

        return wrapper


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        return super().format_field(value, format_spec)


def bounded_format(value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's `format` filter (`value % args`), bounded."""
    from jinja2.filters import do_format

    text = str(value)
    _check_percent(text, args)
    result = do_format(text, *args, **kwargs)
    _check_size("this format", len(result))
    return result


def bounded_center(value: Any, width: int = 80) -> str:
    if isinstance(width, int):
        _check_size("center", width)
    return str(value).center(width)


def bounded_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    from jinja2.filters import do_indent

    text = str(value)
    size = width if isinstance(width, int) else len(str(width))
    _check_size("indent", len(text) + size * (text.count("\n") + 1))
    return do_indent(text, width, first, blank)
