"""``WWW-Authenticate`` challenges (RFC 7235, RFC 6750), parsed without regex shortcuts.

A header may hold several challenges, parameters may be quoted (with ``\\`` escapes and
commas inside) or bare tokens, and a scheme may carry a ``token68`` instead of parameters::

    >>> [c.scheme for c in parse_challenges('Basic realm="r", Bearer realm="https://a/t",'
    ...                                     'service=reg,scope="repository:x:pull"')]
    ['basic', 'bearer']
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Challenge", "parse_challenges"]

# RFC 7230 tchar: the characters of a token.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = _TCHAR | frozenset("/=")
_SPACE = " \t"


@attrs.frozen
class Challenge:
    """One authentication challenge.

    Example::

        >>> c = parse_challenges('Bearer realm="https://auth/token",service="reg"')[0]
        >>> c.scheme, c.get("realm"), c.get("service")
        ('bearer', 'https://auth/token', 'reg')

    Attributes:
        scheme: the scheme, lower-cased (``bearer``, ``basic``).
        params: ``(name, value)`` pairs, names lower-cased, in header order.
        token68: the token68 form some schemes use instead of parameters.
    """

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    def get(self, name: str) -> str | None:
        """The first value of parameter ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def scopes(self) -> tuple[str, ...]:
        """The space-separated ``scope`` parameter, split (may be empty)."""
        return tuple((self.get("scope") or "").split())


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1

    def skip_commas(self) -> None:
        while True:
            self.skip_space()
            if self.peek() != ",":
                return
            self.pos += 1

    def read_while(self, chars: Iterable[str] | frozenset[str]) -> str:
        start = self.pos
        allowed = chars if isinstance(chars, frozenset) else frozenset(chars)
        while self.peek() and self.peek() in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def read_quoted(self) -> str:
        # The opening quote is at self.pos; an unterminated string runs to the end.
        self.pos += 1
        out = []
        while not self.at_end():
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "\\" and not self.at_end():
                out.append(self.text[self.pos])
                self.pos += 1
            elif ch == '"':
                break
            else:
                out.append(ch)
        return "".join(out)

    def looking_at_param(self) -> bool:
        """True if a ``name = value`` pair (not a new scheme) starts here."""
        save = self.pos
        try:
            self.skip_space()
            if not self.read_while(_TCHAR):
                return False
            self.skip_space()
            if self.peek() != "=":
                return False
            # A token68 ends in "=" padding ("abc==", "abc=" then "," or the end); a
            # parameter has a value after its "=".
            self.pos += 1
            self.skip_space()
            return self.peek() not in ("", "=", ",")
        finally:
            self.pos = save


def parse_challenges(header: str | Iterable[str]) -> tuple[Challenge, ...]:
    """Parse one ``WWW-Authenticate`` header value (or several, e.g. from
    ``response.headers.get_list``) into challenges, in order.

    Malformed parts are skipped rather than raising: a registry's odd header must not
    hide a usable challenge next to it.

    Example::

        >>> parse_challenges('Bearer realm=https://a/t,service=x')[0].get("realm")
        'https://a/t'
    """
    if not isinstance(header, str):
        out: list[Challenge] = []
        for value in header:
            out.extend(parse_challenges(value))
        return tuple(out)
    reader = _Reader(header)
    challenges: list[Challenge] = []
    while True:
        reader.skip_commas()
        if reader.at_end():
            break
        scheme = reader.read_while(_TCHAR)
        if not scheme:
            # Not a token: skip one character and resynchronise.
            reader.pos += 1
            continue
        params: list[tuple[str, str]] = []
        token68 = None
        at_next_challenge = False
        reader.skip_space()
        if not reader.looking_at_param():
            start = reader.pos
            candidate = reader.read_while(_TOKEN68)
            reader.skip_space()
            if candidate and (reader.at_end() or reader.peek() == ","):
                token68 = candidate
            else:
                reader.pos = start
        else:
            while True:
                reader.skip_space()
                start = reader.pos
                name = reader.read_while(_TCHAR)
                reader.skip_space()
                if not name or reader.peek() != "=":
                    reader.pos = start
                    break
                reader.pos += 1
                reader.skip_space()
                if reader.peek() == '"':
                    value = reader.read_quoted()
                else:
                    value = reader.read_while(_TCHAR | frozenset("/:=@[]"))
                params.append((name.lower(), value))
                reader.skip_space()
                if reader.peek() != ",":
                    break
                # After a comma: another parameter of this challenge, or a new challenge.
                reader.pos += 1
                reader.skip_commas()
                if not reader.looking_at_param():
                    at_next_challenge = True
                    break
        challenges.append(Challenge(scheme.lower(), tuple(params), token68))
        # Skip junk up to the next comma so one bad part does not swallow the rest.
        reader.skip_space()
        junk = not at_next_challenge and not reader.at_end() and reader.peek() != ","
        if junk and not reader.read_while(_TCHAR):
            reader.pos += 1
    return tuple(challenges)
