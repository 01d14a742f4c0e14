"""Every string of the web app has a French translation, and pages switch language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[1]
PO = REPO / "geova/web/translations/fr/LC_MESSAGES/messages.po"
METHODS = [("geova/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(REPO), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {}}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_french_catalogue_is_complete():
    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="fr")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalogue
        if m.id and m.string and (all(m.string) if isinstance(m.string, tuple) else True) and not m.fuzzy
    }
    missing = sorted(_source_messages() - translated)
    assert not missing, f"strings without a French translation (run `make translations`): {missing}"


def test_pages_follow_the_language_asked_for(db_url):
    from app import create_app

    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    assert "Aucun territoire chargé" in client.get("/?lang=fr").get_data(as_text=True)
    assert "No territory loaded yet" in client.get("/?lang=en").get_data(as_text=True)
    # remembered in the session
    assert "No territory loaded yet" in client.get("/").get_data(as_text=True)
    other = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    assert "Aucun territoire chargé" in other.get(
        "/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}
    ).get_data(as_text=True)
