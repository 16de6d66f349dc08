"""The web client's message catalogs (live/web/static/i18n/{en,ar}.json) against each other and
against the code: no key missing in either language, the same placeholders, every plural form a
language needs, a text for every error code and notification kind the server can send, and no
interface string left in the views.

The browser side (a key asked for that the catalog lacks is logged as an error; no Latin text on
an Arabic page) is tested in test_web_arabic.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from live.errors import ErrorCode
from live.moderation.rules import ACTIONS
from live.notifications.kinds import KINDS
from live.web import routes as web

STATIC = Path(web.__file__).parent / "static"
CATALOGS = STATIC / "i18n"
LANGS = ("en", "ar")
# Intl.PluralRules categories each language uses (CLDR): Arabic has all six.
PLURALS = {"en": {"one", "other"}, "ar": {"zero", "one", "two", "few", "many", "other"}}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# A t('key') / tx('key') call with a literal key, in code (comments are dropped first).
CALL = re.compile(r"""\btx?\(\s*'([a-z_.]+)'""")
# Keys the code builds from a server value or a fixed list: `prefix` + each of `values`.
FAMILIES: dict[str, tuple[str, ...]] = {
    "errors.": (*(c.value for c in ErrorCode), "unknown", "disconnected", "timeout"),
    "roles.": ("owner", "admin", "moderator", "member", "operator"),
    "community.tab.": ("live", "posts", "groups", "members", "moderation", "reports", "requests", "insights",
                       "settings"),
    "reports.sanction.": ("ban", "mute"),
    "reports.lift_": ("ban", "mute"),
    "moderation.do.": tuple(ACTIONS),
    "modlog.did.": (*(a for a in ACTIONS if a != "delete"), "slow_mode", "filter", "suspend", "unsuspend", "other"),
    "modlog.target.": ("post", "comment", "message", "user"),
    "reports.target.": ("post", "comment", "message", "user"),
    "safety.report.": ("post", "comment", "message", "user"),
    "safety.report_title.": ("post", "comment", "message", "user"),
    "safety.menu_label.": ("post", "comment", "message", "user"),
    "reports.status.": ("open", "resolved", "all"),
    "requests.status.": ("pending", "approved", "rejected"),
    "appeals.status.": ("pending", "upheld", "overturned"),
    "notice.": ("ban", "mute", "timeout", "kick", "delete", "unban", "unmute", "other"),
    "notes.": KINDS,
    "net.": ("connecting", "reconnecting", "replaced"),
    "live.reaction.": ("heart", "clap", "laugh", "wow", "fire"),
    "live.role.": ("host", "guest"),
    "golive.kind.": ("audio", "video"),
    "home.none_": ("mine", "public"),
    "reports.decide_": ("upheld", "overturned"),
    "requests.": ("approved", "rejected"),
}
# Latin words an Arabic text may hold: the product's name, formats, a command.
LATIN_OK = {"live", "HLS", "JPEG", "PNG", "WebP", "JavaScript", "token"}


def catalog(lang: str) -> dict[str, Any]:
    return dict(json.loads((CATALOGS / f"{lang}.json").read_text(encoding="utf-8")))


def placeholders(value: Any) -> set[str]:
    forms = value.values() if isinstance(value, dict) else [value]
    return {name for form in forms for name in PLACEHOLDER.findall(form)}


def code_without_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"(^|[^:'\"`])//.*$", r"\1", source, flags=re.M)


def test_both_languages_have_every_key() -> None:
    en, ar = catalog("en"), catalog("ar")
    assert sorted(set(en) - set(ar)) == [], "missing in Arabic"
    assert sorted(set(ar) - set(en)) == [], "missing in English"


def test_texts_are_well_formed_with_the_same_placeholders_and_plural_forms() -> None:
    cats = {lang: catalog(lang) for lang in LANGS}
    for key, english in cats["en"].items():
        for lang in LANGS:
            value = cats[lang][key]
            if isinstance(english, dict) or isinstance(value, dict):
                # A text that depends on a number: the language's plural categories, each a text.
                assert isinstance(value, dict), (lang, key)
                assert set(value) == PLURALS[lang], (lang, key, sorted(value))
                assert all(isinstance(v, str) and v.strip() for v in value.values()), (lang, key)
                # Every form names the same things (a form may leave the count to its words:
                # "عضوان", two members).
                for form in value.values():
                    assert placeholders(form) - {"count"} == placeholders(english) - {"count"}, (lang, key, form)
            else:
                assert isinstance(value, str) and value.strip(), (lang, key)
                assert placeholders(value) == placeholders(english), (lang, key, value)


def test_arabic_texts_are_arabic() -> None:
    for key, value in catalog("ar").items():
        for form in value.values() if isinstance(value, dict) else [value]:
            text = PLACEHOLDER.sub("", form)
            if key in ("app.title", "common.sep", "common.comma", "discover.topic_placeholder", "usage.legend"):
                continue
            assert re.search(r"[\u0600-\u06FF]", text), (key, form)
            for word in re.findall(r"[A-Za-z]+", text):
                assert word in LATIN_OK, (key, word)


def test_every_key_the_code_asks_for_is_in_the_catalogs() -> None:
    en = catalog("en")
    used: dict[str, str] = {}
    for path in STATIC.rglob("*.js"):
        if path.parent.name == "vendor":
            continue
        for key in CALL.findall(code_without_comments(path.read_text(encoding="utf-8"))):
            used.setdefault(key, path.name)
    assert len(used) > 300
    missing = {key: where for key, where in used.items() if key not in en}
    assert missing == {}
    for prefix, values in FAMILIES.items():
        for value in values:
            assert f"{prefix}{value}" in en, f"no text for {prefix}{value}"


def test_no_interface_sentence_is_left_in_the_code() -> None:
    """Views say everything through the catalogs: no English sentence in a string literal."""
    sentence = re.compile(r"""(['`])([A-Z][a-z]+(?: [a-z]+){1,}[.!?…]?)\1""")
    for path in STATIC.rglob("*.js"):
        if path.parent.name == "vendor" or path.name == "sw.js":
            continue
        found = [m.group(2) for m in sentence.finditer(code_without_comments(path.read_text(encoding="utf-8")))]
        assert found == [], f"{path.name}: {found}"


def test_the_page_names_its_language_and_direction_before_the_script_runs() -> None:
    page = (STATIC.parent / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page  # the script sets lang and dir at once from the catalog it loads
    assert 'translate="no"' in page  # the product's name is not a word to translate
