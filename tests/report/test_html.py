"""report.html: hostile names stay text, hidden characters show, nothing is fetched or pictured."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.report.sample import FORMULA_SET, sample_records, sample_summary
from triage.report.html import human_size, render_html, visible_html

# Tags the template itself uses; anything else would have come from the data.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "b", "div", "span",
    "nav", "ol", "ul", "li", "a", "section", "table", "thead", "tbody", "tr", "th", "td", "br", "wbr", "footer",
}


class Collector(HTMLParser):
    """Every start tag with its attributes, and the page text as a browser would show it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if not self.in_style:
            self.text.append(data)


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector


@pytest.fixture(scope="module")
def page() -> str:
    records = sample_records()
    return render_html(sample_summary(records), records).decode("utf-8")


def test_hostile_names_are_text(page: str) -> None:
    parsed = parse(page)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;.txt" in page
    assert "&lt;i&gt;set&lt;/i&gt;" in page
    assert "plain &amp; &lt;b&gt;bold&lt;/b&gt;.jpg" in page
    text = "".join(parsed.text)
    assert "/Users/alex/hostile/<script>alert(1)<.txt" in text
    assert FORMULA_SET in text
    assert '/Users/alex/hostile/"quotes".jpg' in text
    assert "OP-2024/0117 <b>" in text  # acquisition values are evidence too


def test_no_pictures_no_fetches_no_scripts(page: str) -> None:
    lowered = page.lower()
    for needle in ("<img", "<svg", "<picture", "<video", "<audio", "<iframe", "<object", "<embed", "<link",
                   "data:", "url(", "@import", "javascript:", "src="):
        assert needle not in lowered, needle
    for tag, attrs in parse(page).tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name == "href":
                assert value is not None and value.startswith("#"), value


def test_hidden_characters_are_drawn(page: str) -> None:
    for raw in ("\x1b", "\x07", "\u202e", "\ufeff", "\t"):
        assert raw not in page
    assert '<span class="esc">\\x1b</span>[31mred.jpg' in page
    assert 'bad<span class="esc">\\xff</span>.jpg' in page  # a raw lone surrogate
    assert "caf\\xff.jpg" in page  # as files.jsonl holds an undecodable byte: literal text
    assert 'invoice<span class="esc">\\u202e</span>gpj.exe' in page
    assert 'two<span class="esc">\\x0a</span>lines.png' in page
    page.encode("utf-8")  # no lone surrogate survived


def test_matches_grouped_and_complete(page: str) -> None:
    records = sample_records()
    for r in records:
        if r["matches"]:
            visible = str(visible_html(r["path"]))
            assert visible in page, r["path"]
    assert page.count("UK Category A") >= 2
    assert "d=12" in page and "phash" in page
    assert page.index("Category 1:") < page.index("Category 2:")  # most severe first
    assert "encrypted volume (BitLocker) not opened" in page
    assert "read error at offset 4096: bad sector" in page
    assert "52,000,000" in page and "nsrl-demo" in page
    assert "triage scan /cases/2024-0117/laptop.E01 -H alert:demo.json -o &#39;out dir&#39;" in page


@pytest.mark.parametrize(
    ("status", "kind"),
    [("verified", "good"), ("mismatch", "bad"), ("not stored", "neutral"), ("skipped (--no-verify)", "warn"),
     ("absent", "neutral")],
)
def test_verification_banner(status: str, kind: str) -> None:
    records = sample_records()
    page = render_html(sample_summary(records, verification=status), records).decode("utf-8")
    assert f'class="banner {kind}"' in page
    first_section = page.index("<section")
    if status == "mismatch":
        # Loud and first: a red banner before any section, and the differing hash row marked.
        assert page.index('class="banner bad"') < first_section
        assert "Evidence verification: mismatch" in page
        assert '<tr class="differs">' in page
    else:
        assert 'class="banner bad"' not in page[:first_section]
    if status == "absent":
        assert "not recorded" in page


def test_incomplete_scan_is_flagged() -> None:
    records = sample_records()
    summary = sample_summary(records)
    summary["complete"] = False
    page = render_html(summary, records).decode("utf-8")
    assert "Incomplete scan." in page[: page.index("<section")]


def test_minimal_summary_renders() -> None:
    """A summary with only the fields an old or partial run has still renders (no KeyError)."""
    page = render_html({"tool": {"name": "triage", "version": "0.0"}}, []).decode("utf-8")
    assert "No file matched any alert hash set." in page
    assert "Every volume and every file was read completely." in page


def test_human_size() -> None:
    assert human_size(116) == "116 B"
    assert human_size(4 << 20) == "4.0 MiB (4,194,304 bytes)"
    assert human_size(None) == ""


def test_no_external_references_in_css(page: str) -> None:
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    assert "http" not in style.group(1)


def test_footer_css_string_cannot_break_out() -> None:
    records = sample_records()
    summary = sample_summary(records)
    summary["evidence"]["acquisition"]["case_number"] = '"; } </style><script>alert(1)</script>\\'
    page = render_html(summary, records).decode("utf-8")
    style = page[page.index("<style>") + len("<style>") : page.index("</style>")]
    assert "<" not in style and '"; }' not in style
    assert '@bottom-left { content: "Case \\000022 \\00003b  \\00007d  \\00003c /style\\00003e ' in style
    assert page.count("<style>") == 1 and "<script" not in page


def test_a_match_transform_is_shown() -> None:
    """Issue 15 part 4: a mirrored copy's match says so next to its distance."""
    from tests.report.sample import match, record

    found = {**match("demo-vics", "A", "pdq", 3), "transform": "rotate-90-cw"}
    records = [record("/turned.jpg", inode=7, matches=[found])]
    page = render_html(sample_summary(records), records).decode("utf-8")
    assert "d=3 · rotate-90-cw</div>" in page
