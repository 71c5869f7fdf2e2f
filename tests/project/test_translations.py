"""The Japanese catalogue: every message translated, and the compiled .mo (what Django reads)
built from the .po as it is (a message added or changed without compiling shows in English)."""

import ast
import gettext
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "ja" / "LC_MESSAGES"


def _entries(path: Path) -> list[dict[str, str]]:
    """The .po file's entries: {"msgid": ..., "msgid_plural": ..., "msgstr[0]": ...}."""
    entries, entry, key = [], {}, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith('"') and key:
            entry[key] += ast.literal_eval(line)
        elif line.startswith("msg"):
            if line.startswith("msgid ") and "msgid" in entry:
                entries.append(entry)
                entry = {}
            key, _, text = line.partition(" ")
            entry[key] = ast.literal_eval(text)
        elif line.startswith("#,") and "fuzzy" in line:
            entry["fuzzy"] = "yes"  # gettext skips it: the message shows in English
        elif line.startswith("#~"):
            continue
        elif not line.strip() and entry:
            entries.append(entry)
            entry, key = {}, None
    return [e for e in entries if e.get("msgid")]


ENTRIES = _entries(LOCALE / "django.po")


def test_the_catalogue_is_read_whole():
    # Hundreds of messages, each with a translation key: the parser did not lose entries.
    assert len(ENTRIES) > 700
    assert all("msgstr" in e or "msgstr[0]" in e for e in ENTRIES)


def test_every_message_has_a_japanese_translation():
    untranslated = [
        e["msgid"] for e in ENTRIES if not (e.get("msgstr") or e.get("msgstr[0]")) or "fuzzy" in e
    ]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_source():
    with open(LOCALE / "django.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    stale = []
    for entry in ENTRIES:
        if "fuzzy" in entry:
            continue  # not compiled; the test above fails on it
        context, msgid = entry.get("msgctxt"), entry["msgid"]
        if "msgid_plural" in entry:
            plural, wanted = entry["msgid_plural"], entry["msgstr[0]"]
            if context:
                got = catalogue.npgettext(context, msgid, plural, 1)
            else:
                got = catalogue.ngettext(msgid, plural, 1)
        else:
            wanted = entry["msgstr"]
            got = catalogue.pgettext(context, msgid) if context else catalogue.gettext(msgid)
        if got != wanted:
            stale.append(msgid)
    assert stale == [], "compile it: manage.py compilemessages -l ja"
