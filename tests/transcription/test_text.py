from hypothesis import given
from hypothesis import strategies as st

from transcription.text import is_cjk, join_words, normalize_text


def test_normalize_text_removes_spaces_between_han() -> None:
    assert normalize_text("甚至 出现 交易 几乎 停滞") == "甚至出现交易几乎停滞"


def test_normalize_text_keeps_latin_and_digit_spacing() -> None:
    assert normalize_text("用 iPhone 15 拍摄 的 照片") == "用 iPhone 15 拍摄的照片"
    assert normalize_text("hello   world") == "hello world"


def test_normalize_text_empty_and_whitespace() -> None:
    assert normalize_text("") == ""
    assert normalize_text("  \t ") == ""


def test_join_words_cjk_punctuation_counts_as_cjk() -> None:
    assert join_words(["原告", "，", "请", "陈述"]) == "原告，请陈述"


def test_is_cjk_classifies() -> None:
    assert is_cjk("法") and is_cjk("，") and not is_cjk("a") and not is_cjk("1")


@given(st.lists(st.sampled_from(["法庭", "原告", "A", "ok", "12", "，"]), max_size=12))
def test_join_words_never_spaces_between_two_cjk(words: list[str]) -> None:
    text = join_words(words)
    for left, mid, right in zip(text, text[1:], text[2:], strict=False):
        if mid == " ":
            assert not (is_cjk(left) and is_cjk(right))
    assert text.replace(" ", "") == "".join(words)
