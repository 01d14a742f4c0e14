"""Referential files (`geova referential load`, GEOVA_REFERENTIAL) validated whole, on both backends:
every mistake named with its file, table, code, key and line, never a traceback, the store unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from geova import importing
from geova.cli import cli
from geova.store.schema import Category, Norm
from tests.boston import load_quarters, load_zones


def geova(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *map(str, args)])


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()


@pytest.fixture
def store(engine: Engine) -> Engine:
    importing.prepare_store(engine)
    return engine


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_kind_and_missing_label_are_named_with_table_key_and_line(store, db_url, tmp_path):
    lines = [
        "# my city's additions",  # 1
        "[[category]]",  # 2
        'code = "tags"',  # 3
        'label_en = "Tags"',  # 4
        "",  # 5
        "[[norm]]",  # 6
        'code = "ville.tags.24h"',  # 7
        'kind = "delai"',  # 8
        "value = 24",  # 9
        "  [[norm.scope]]",  # 10
        '  categories = ["tags"]',  # 11
    ]
    path = write(tmp_path, "mine.toml", lines)
    before = (count(store, Category), count(store, Norm))
    result = geova(db_url, "referential", "load", path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert message.startswith(f"error: {path}: invalid referential:")
    assert "[[category]] 'tags' (line 2), key 'label_fr': missing (required)" in message
    assert "[[norm]] 'ville.tags.24h' (line 6), key 'kind' (line 8): Input should be 'deadline'" in message
    assert message.endswith("Nothing was stored.")
    assert (count(store, Category), count(store, Norm)) == before


def test_toml_syntax_errors_give_the_line(store, db_url, tmp_path):
    path = write(tmp_path, "broken.toml", ["[[norm]]", 'code = "x"', "kind = "])
    result = geova(db_url, "referential", "load", path)
    assert result.exit_code == 1
    assert f"{path}: not valid TOML: Invalid value (at line 3, column 8)" in " ".join(result.output.split())


def test_typos_and_duplicates_are_refused(store, db_url, tmp_path):
    path = write(
        tmp_path,
        "typos.toml",
        [
            "[[category]]",
            'code = "tags"',
            'label_fr = "Tags"',
            'label_en = "Tags"',
            'taks = "proprete.graffiti"',  # line 5
            "[[category]]",  # line 6
            'code = "tags"',
            'label_fr = "Tags encore"',
            'label_en = "Tags again"',
        ],
    )
    result = geova(db_url, "referential", "load", path)
    message = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "[[category]] 'tags' (line 1), key 'taks' (line 5): not a key of this table" in message
    path.write_text(path.read_text().replace("taks", "task"), encoding="utf-8")
    result = geova(db_url, "referential", "load", path)
    message = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "[[category]] 'tags' (line 6), key 'code' (line 7): code 'tags' used twice" in message


def test_a_category_may_attach_to_a_task_already_stored(store, db_url, tmp_path):
    # proprete.graffiti comes from data/referential.toml, already in the store, not from this file
    path = write(
        tmp_path,
        "tags.toml",
        [
            "[[category]]",
            'code = "tags"',
            'task = "proprete.graffiti"',
            'label_fr = "Tags"',
            'label_en = "Tags"',
        ],
    )
    result = geova(db_url, "referential", "load", path)
    assert result.exit_code == 0, result.output
    assert "categories added 1" in result.output
    with store.connect() as conn:
        task = conn.execute(
            select(Category.__table__.c.task_code).where(Category.__table__.c.code == "tags")
        ).scalar_one()
    assert task == "proprete.graffiti"
    unknown = write(
        tmp_path,
        "bad-task.toml",
        ["[[category]]", 'code = "pub"', 'task = "proprete.pub"', 'label_fr = "Pub"', 'label_en = "Ads"'],
    )
    result = geova(db_url, "referential", "load", unknown)
    assert result.exit_code == 1
    assert "[[category]] 'pub' (line 1), key 'task' (line 3): unknown task 'proprete.pub'" in " ".join(
        result.output.split()
    )


NORM_LINES = [
    "[[norm]]",  # 1
    'code = "ville.graffiti.24h"',  # 2
    'kind = "deadline"',  # 3
    "value = 24",  # 4
    "  [[norm.scope]]",  # 5
    '  categories = ["graffiti"]',  # 6
    "  [[norm.scope]]",  # 7
]


@pytest.mark.parametrize(
    ("scope", "said"),
    [
        ('  categories = ["grafiti"]', "key 'categories' (line 8): unknown category 'grafiti'"),
        ('  quarters = ["6", "99"]', "key 'quarters' (line 8): unknown quarter '99'"),
        ('  zone_kinds = ["comercial"]', "key 'zone_kinds' (line 8): unknown zone kind 'comercial'"),
        ('  zones = ["ZPC-99"]', "key 'zones' (line 8): unknown zone 'ZPC-99'"),
    ],
)
def test_a_norm_scoped_to_what_does_not_exist_is_refused(store, db_url, tmp_path, scope, said):
    load_quarters(store)
    load_zones(store)
    path = write(tmp_path, "norm.toml", [*NORM_LINES, scope])
    norms = count(store, Norm)
    result = geova(db_url, "referential", "load", path)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert f"[[norm]] 'ville.graffiti.24h' (line 1), [[norm.scope]] #2 (line 7), {said}" in message
    assert count(store, Norm) == norms
    # the same norm scoped to what exists is stored
    good = write(tmp_path, "good.toml", [*NORM_LINES, '  quarters = ["6"]', '  zone_kinds = ["commercial"]'])
    result = geova(db_url, "referential", "load", good)
    assert result.exit_code == 0, result.output
    assert count(store, Norm) == norms + 1


def test_a_bad_main_referential_stops_any_command_with_one_line(db_url, tmp_path, monkeypatch):
    path = write(tmp_path, "city.toml", ["[[field]]", 'code = "proprete"', 'label_fr = "Propreté"'])
    monkeypatch.setenv("GEOVA_REFERENTIAL", str(path))
    result = geova(db_url, "norms")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{path}: invalid referential: [[field]] 'proprete' (line 1), key 'label_en': missing" in " ".join(
        result.output.split()
    )
