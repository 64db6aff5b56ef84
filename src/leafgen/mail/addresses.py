"""Check email addresses and display names, the data that would otherwise write mail headers."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from leafgen.content.characters import FORBIDDEN_RE, why
from leafgen.errors import MailError

# CR and LF end a header line; the other C0 controls and DEL have no business in a name either (a tab is
# just white space, folded into a space).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")


def check_address(value: str) -> str:
    """The normalised ASCII form of an address, or a MailError whose message does not repeat the address."""
    value = value.strip()
    if not value:
        raise MailError("no email address")
    if CONTROL.search(value):
        raise MailError("malformed email address: it contains a line break or control character")
    try:
        # Syntax only: looking up the domain would make a dry run depend on the network and leak the list to DNS.
        # allow_smtputf8=False: a non-ASCII mailbox name needs SMTPUTF8 end to end, which most servers lack.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise MailError(f"malformed email address: {_reason(str(e))}") from None
    return result.ascii_email or result.normalized


def _reason(message: str) -> str:
    """The library's reason without the part of the address it quotes.

    email_validator ends many messages with the offending characters, quoted ('…') or by Unicode name (SPACE,
    ZERO WIDTH SPACE, COMBINING ACUTE ACCENT), or an IDNA error in parentheses that repeats the domain: every one
    of those is a piece of a patient's address, so only the sentence before the first ':' or '(' is kept.
    """
    message = re.sub(r"^After Unicode normalization:\s*", "", message)
    reason = re.split(r"[:(]", message, maxsplit=1)[0].strip().rstrip(".").strip()
    return reason or "not a valid address"


# A name is printed as the display name of the To: header. Holding an address of its own ("Ann <x@y.z>"), it would
# sit inside one RFC 2047 encoded word that a client decodes into text that reads as a second address; quoting
# cannot help there (encoded words are not allowed inside quotes), so such names are refused.
ADDRESS_LIKE = re.compile(r"[<>@＜＞＠﹤﹥﹫]")


def check_name(value: str, what: str = "name") -> str:
    """A display name is data: one line, no control characters, nothing that reads as an address."""
    if CONTROL.search(value):
        kind = "a line break (CR/LF)" if re.search(r"[\r\n\u2028\u2029\x85]", value) else "a control character"
        raise MailError(f"{what} contains {kind}; names are data and can never start a new mail header")
    if m := FORBIDDEN_RE.search(value):  # as everywhere text reaches a patient: an override reorders the greeting
        raise MailError(f"{what} contains {why(m.group())} (U+{ord(m.group()):04X}); type the name again")
    if ADDRESS_LIKE.search(value):
        raise MailError(
            f"{what} contains '<', '>' or '@': a name holding an address could show as a second recipient; "
            "give the name only"
        )
    return " ".join(value.split())
