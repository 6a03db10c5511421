"""Settings: config.yaml becomes one validated object, relative paths are taken from the file's
own folder, the environment overrides any key, and a bad or unknown key is one line naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import load_config
from index.errors import ConfigError
from tests.index_fixtures import CORE_CONFIG_FILE, SHIPPED_CORPUS


@pytest.fixture(autouse=True)
def no_citebot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CITEBOT_"):
            monkeypatch.delenv(name)


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "citebot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_finds_the_shipped_corpus() -> None:
    config = load_config(CORE_CONFIG_FILE)

    assert config.corpus.path == SHIPPED_CORPUS
    assert config.index.path == CORE_CONFIG_FILE.parent / "data" / "index"
    assert (config.passages.min_words, config.passages.max_words) == (60, 150)
    assert config.passages.overlap_sentences == 1
    assert config.answer.snippet_max_chars == 350
    assert config.index.model == "default"


def test_relative_paths_are_taken_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path / "deploy",
        "corpus:\n  path: articles\nindex:\n  path: ../state/index\n",
    )
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    config = load_config("../deploy/citebot.yaml")

    assert config.corpus.path.resolve() == (tmp_path / "deploy" / "articles").resolve()
    assert config.index.path.resolve() == (tmp_path / "state" / "index").resolve()


def test_absolute_and_home_paths_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write_config(tmp_path, "corpus:\n  path: /srv/news\nindex:\n  path: ~/citebot\n")

    config = load_config(path)

    assert config.corpus.path == Path("/srv/news")
    assert config.index.path == tmp_path / "home" / "citebot"


def test_the_environment_overrides_any_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(
        tmp_path,
        "corpus:\n  path: articles\n  max_file_mb: 3\nanswer:\n  max_citations: 2\n",
    )
    monkeypatch.setenv("CITEBOT_CORPUS__PATH", str(tmp_path / "other-articles"))
    monkeypatch.setenv("CITEBOT_INDEX__PATH", str(tmp_path / "other-index"))
    monkeypatch.setenv("CITEBOT_ANSWER__MAX_CITATIONS", "5")
    monkeypatch.setenv("CITEBOT_RETRIEVAL__FUSION", "bm25")

    config = load_config(path)

    assert config.corpus.path == tmp_path / "other-articles"
    assert config.corpus.max_file_mb == 3  # the file's other keys in that section still hold
    assert config.index.path == tmp_path / "other-index"
    assert config.answer.max_citations == 5
    assert config.retrieval.fusion == "bm25"


def test_the_config_file_itself_can_be_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "conf", "answer:\n  max_citations: 4\n")
    monkeypatch.setenv("CITEBOT_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)

    assert load_config().answer.max_citations == 4


def test_without_a_config_file_the_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.corpus.path == Path("corpus")
    assert config.answer.max_citations == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("corpus:\n  pth: articles\n", "corpus.pth"),
        ("index:\n  modle: default\n", "index.modle"),
        ("retreival:\n  fusion: rrf\n", "retreival"),
    ],
)
def test_an_unknown_key_is_an_error_naming_it(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, text))
    message = str(error.value)
    assert f"{key}: unknown setting" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("answer:\n  min_score: 7\n", "answer.min_score", "less than or equal to 1"),
        ("index:\n  index_type: magic\n", "index.index_type", "'flat'"),
        ("retrieval:\n  candidates: lots\n", "retrieval.candidates", "valid integer"),
        ("passages:\n  min_words: 200\n", "passages", "min_words must not exceed max_words"),
        ("corpus:\n  max_file_mb: .inf\n", "corpus.max_file_mb", "finite number"),
        ("telegram:\n  max_upload_mb: .inf\n", "telegram.max_upload_mb", "finite number"),
        ("retrieval:\n  bm25_weight: .inf\n", "retrieval.bm25_weight", "finite number"),
        ("corpus:\n  max_file_mb: 0\n", "corpus.max_file_mb", "greater than 0"),
        ("telegram:\n  admins: [true]\n", "telegram.admins", "not yes/no"),
        ("telegram:\n  admins: [12345, yes]\n", "telegram.admins", "not yes/no"),
        ("telegram:\n  admins: [-5]\n", "telegram.admins.0", "greater than 0"),
        ("index:\n  batch_size: on\n", "index.batch_size", "not yes/no"),
        ("corpus:\n  path: ''\n", "corpus.path", "must not be empty"),
        ("index:\n  path: '  '\n", "index.path", "must not be empty"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, text))
    message = str(error.value)
    assert f"{key}: " in message and allowed in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("variable", "key"),
    [("CITEBOT_INDEX__PATH", "index.path"), ("CITEBOT_CORPUS__PATH", "corpus.path")],
)
def test_an_empty_path_in_the_environment_is_refused_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str
) -> None:
    monkeypatch.setenv(variable, "")
    with pytest.raises(ConfigError) as error:
        load_config(CORE_CONFIG_FILE)
    message = str(error.value)
    assert f"{key}: " in message and "must not be empty" in message
    assert "\n" not in message


def test_admins_given_as_numbers_in_text_still_count(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "telegram:\n  admins: [12345, '678']\n"))
    assert config.telegram.admins == (12345, 678)


def test_a_bad_value_from_the_environment_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_ANSWER__MIN_SCORE", "high")
    with pytest.raises(ConfigError, match=r"answer\.min_score: .*'high'"):
        load_config(CORE_CONFIG_FILE)


@pytest.mark.parametrize(
    "variable", ["CITEBOT_INDEX_PATH", "CITEBOT_INDX__PATH", "CITEBOT_MIN_SCORE", "CITEBOT_INDEX__"]
)
def test_an_environment_variable_that_names_no_setting_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "/srv/index")
    with pytest.raises(ConfigError) as error:
        load_config(CORE_CONFIG_FILE)
    assert f"environment variable {variable}: unknown setting" in str(error.value)
    assert "CITEBOT_INDEX__PATH" in str(error.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("- corpus\n- index\n", "mapping"), ("corpus: [unclosed\n", "YAML")],
)
def test_a_config_file_that_is_not_settings_is_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write_config(tmp_path, text))


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
