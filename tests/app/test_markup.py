"""The one way the app shows untrusted text (fac_app/markup.py): exact outputs of each helper."""

from fac_app.markup import WORD_JOINER, escape_inline, escape_markdown, highlight_tokens, inline_code, quoted


def test_escape_inline_escapes_only_what_opens_markdown() -> None:
    assert escape_inline("my-data_v2.csv") == "my-data\\_v2.csv"
    assert escape_inline("'99' is out of range: this SAE has features 0..7.") == \
        "'99' is out of range: this SAE has features 0..7."
    assert escape_inline("[x](http://a) $y$ :red[z] <b>&") == \
        "\\[x\\]\\(http\\://a\\) \\$y\\$ \\:red\\[z\\] &lt;b&gt;&amp;"
    assert escape_inline("- item\nnext") == "\\- item next"
    assert escape_inline("12. first") == "12\\. first"


def test_bare_urls_and_addresses_get_a_word_joiner() -> None:
    j = WORD_JOINER
    assert escape_inline("see https://evil.example/x or www.evil.example, a@evil.example") == \
        f"see https:{j}//evil.example/x or www{j}.evil.example, a\\@{j}evil.example"
    assert escape_markdown("https://a.b") == f"https\\:{j}//a\\.b"
    assert escape_inline("http://localhost:8000") == "http\\://localhost:8000"  # no period: never a link


def test_inline_code_and_quoted() -> None:
    assert inline_code("/models/my `odd` model") == "``/models/my `odd` model``"
    assert inline_code("`x`") == "`` `x` ``"
    assert inline_code("") == ""
    assert quoted("a" * 70) == "'" + "a" * 60 + "…'"
    assert quoted("[x](y)") == "'\\[x\\]\\(y\\)'"


def test_highlight_tokens_keeps_one_html_line() -> None:
    html = highlight_tokens(["a\r\rb", "<i>"], [1.0, 0.0])
    assert "\r" not in html and "\n" not in html
    assert html == ('<div class="fac-tokens"><span class="fac-tok" style="background: rgba(255,140,0,1.00)" '
                    'title="1.000">a\u21b5<br>\u21b5<br>b</span><span class="fac-tok" style="background: '
                    'rgba(255,140,0,0.00)" title="0.000">&lt;i&gt;</span></div>')
