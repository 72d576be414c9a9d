from pathlib import Path

import pytest

from vocable.config import Settings, default_data_dir, get_settings, load_settings
from vocable.errors import ConfigError


def test_every_field_has_a_working_default(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.audio.sample_rate == 16000
    assert s.audio.max_input_seconds == 60
    assert s.tts.engines == ["xtts", "piper", "edge", "pyttsx3"]
    assert s.server.host == "127.0.0.1"
    assert s.stt.model_path is None and s.llm.model_path is None


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCABLE_AUDIO__MAX_INPUT_SECONDS", "12.5")
    monkeypatch.setenv("VOCABLE_LLM__MAX_TOKENS", "7")
    monkeypatch.setenv("VOCABLE_TTS__ENGINES", '["pyttsx3"]')
    s = load_settings()
    assert s.audio.max_input_seconds == 12.5
    assert s.llm.max_tokens == 7
    assert s.tts.engines == ["pyttsx3"]


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    # conftest points VOCABLE_DATA_DIR at a per-test directory
    assert load_settings().data_dir == tmp_path / "data"


def test_default_data_dir_is_the_platform_user_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOCABLE_DATA_DIR")
    assert load_settings().data_dir == default_data_dir()
    assert default_data_dir().name == "vocable"


def test_toml_file_from_vocable_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "conf.toml"
    cfg.write_text("[llm]\nmax_tokens = 33\n[vad]\nthreshold = 0.7\n")
    monkeypatch.setenv("VOCABLE_CONFIG", str(cfg))
    monkeypatch.setenv("VOCABLE_VAD__THRESHOLD", "0.6")
    s = load_settings()
    assert s.llm.max_tokens == 33
    assert s.vad.threshold == 0.6  # the environment beats the file


def test_toml_file_in_the_data_dir_is_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "vocable.toml").write_text("threads = 3\n")
    assert load_settings().threads == 3


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCABLE_CONFIG", "/nonexistent/vocable.toml")
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


def test_malformed_toml_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("this is = = not toml")
    monkeypatch.setenv("VOCABLE_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="settings file"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "value", "field"),
    [
        ("VOCABLE_AUDIO__MAX_INPUT_SECONDS", "-1", "audio.max_input_seconds"),
        ("VOCABLE_VAD__THRESHOLD", "2", "vad.threshold"),
        ("VOCABLE_TTS__ENGINES", '["nope"]', "tts.engines"),
    ],
)
def test_invalid_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings()


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="nonsense"):
        load_settings(nonsense=1)


def test_get_settings_is_cached() -> None:
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
        assert isinstance(get_settings(), Settings)
    finally:
        get_settings.cache_clear()


def test_every_setting_is_documented_and_the_docs_are_current() -> None:
    from vocable.config import settings_markdown, settings_reference

    rows = settings_reference()
    assert len(rows) > 30
    assert all(doc for _, _, doc in rows), [env for env, _, doc in rows if not doc]
    docs = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert docs.read_text() == settings_markdown(), (
        "run: vocable config --reference > docs/configuration.md"
    )
