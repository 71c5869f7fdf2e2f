"""Member numbers: 16 digits, the last a Luhn check digit, printable on a card.

Random rather than sequential so a number cannot be guessed from another member's.
"""

import re
import secrets

MEMBER_NUMBER_LENGTH = 16


def luhn_check_digit(payload: str) -> str:
    total = 0
    # Double every second digit counting from the right of the payload (the check digit's
    # neighbour first).
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid_member_number(value: str) -> bool:
    if not (12 <= len(value) <= 16) or not value.isdigit():
        return False
    return luhn_check_digit(value[:-1]) == value[-1]


def generate_member_number() -> str:
    first = str(secrets.randbelow(9) + 1)  # no leading zero: survives spreadsheets and POS fields
    rest = "".join(str(secrets.randbelow(10)) for _ in range(MEMBER_NUMBER_LENGTH - 2))
    payload = first + rest
    return payload + luhn_check_digit(payload)


_CARD_SEPARATORS = re.compile(r"[\s\-]")


def member_number_as_written(text: str) -> str | None:
    """A member number as read off a card ("1234 5678 9012 3456" or with dashes), or None
    when `text` is not one."""
    digits = _CARD_SEPARATORS.sub("", text)
    return digits if digits.isdigit() and 12 <= len(digits) <= 16 else None
