"""Words by regular expression, and a prompt put back together around changed words."""

from service.redteam.attacks.tokens import replace_words, share_of, words


def test_words_are_runs_of_letters_in_any_script():
    assert [word.text for word in words("Don't stop: café 42 naïve_test 中文!")] == [
        "Don", "t", "stop", "café", "naïve", "test", "中文"
    ]


def test_replacing_keeps_everything_between_words():
    text = "Hello,  brave\tnew world!"
    found = words(text)
    assert replace_words(text, {found[0]: "Bye", found[3]: "moon"}) == "Bye,  brave\tnew moon!"
    assert replace_words(text, {}) == text


def test_a_share_picks_at_least_one_of_something_and_none_of_nothing():
    assert [share_of(10, 0.2), share_of(3, 0.1), share_of(0, 0.5), share_of(4, 1.0)] == [
        2, 1, 0, 4
    ]
