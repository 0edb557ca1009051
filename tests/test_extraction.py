"""Visible text and heading trails of Markdown, plain text and HTML."""

from llmops.knowledge.extraction import extract_blocks

HTML_PAGE = """<!doctype html><html><head><title>Expenses | Intranet</title>
<style>.banner { color: red; }</style>
<script>window.dataLayer = []; function track() { return "SECRET_JS"; }</script></head>
<body>
<header class="site-header"><a href="/">Intranet home</a></header>
<div id="cookie-banner">We use cookies to improve your experience.</div>
<nav><ul><li>Leave</li><li>Expenses</li></ul></nav>
<main>
  <article>
    <header><h1>Expenses policy</h1></header>
    <p>Receipts are required for every claim over £25.</p>
    <h2>Per diems</h2>
    <ul><li>London: £60 per day</li><li>Lisbon: €50 per day</li></ul>
    <table><tr><th>City</th><th>Hotel cap</th></tr><tr><td>Austin</td><td>$220</td></tr></table>
    <h3>Exceptions</h3>
    <p>Your Head of Department may approve <b>exceptions</b> in writing.</p>
    <script>console.log("INLINE_SCRIPT")</script>
  </article>
  <aside>Related links: travel policy</aside>
</main>
<footer>© 2026 Northwind Quill Ltd. All rights reserved.</footer>
</body></html>"""


def test_html_keeps_only_visible_main_content():
    blocks = extract_blocks(HTML_PAGE, "html")
    text = "\n".join(b.text for b in blocks)
    assert "Receipts are required for every claim over £25." in text
    assert "- London: £60 per day" in text
    assert "Austin | $220" in text
    assert "Your Head of Department may approve exceptions in writing." in text
    for boilerplate in [
        "SECRET_JS", "INLINE_SCRIPT", "color: red", "cookies", "Intranet home",
        "All rights reserved", "Related links", "Expenses | Intranet",
    ]:  # fmt: skip
        assert boilerplate not in text


def test_html_heading_trail_follows_levels():
    blocks = {b.text: b.headings for b in extract_blocks(HTML_PAGE, "html")}
    assert blocks["Receipts are required for every claim over £25."] == ("Expenses policy",)
    assert blocks["- Lisbon: €50 per day"] == ("Expenses policy", "Per diems")
    assert blocks["Your Head of Department may approve exceptions in writing."] == (
        "Expenses policy",
        "Per diems",
        "Exceptions",
    )


def test_html_without_main_uses_body_text():
    page = (
        "<html><body><nav>menu</nav><div>Loose text in a div.</div>"
        "<p>A paragraph.</p></body></html>"
    )
    texts = [b.text for b in extract_blocks(page, "html")]
    assert texts == ["Loose text in a div.", "A paragraph."]


def test_markdown_headings_and_code_fences():
    doc = (
        "# Leave\n\nIntro.\n\n## Sick leave\n\nSelf-certify.\n\n"
        "```\n# not a heading\n```\n\n# Other\n\nEnd."
    )
    blocks = extract_blocks(doc, "markdown")
    assert [(b.headings, b.text) for b in blocks] == [
        (("Leave",), "Intro."),
        (("Leave", "Sick leave"), "Self-certify."),
        (("Leave", "Sick leave"), "```\n# not a heading\n```"),
        (("Other",), "End."),
    ]


def test_markdown_list_items_are_separate_blocks():
    blocks = extract_blocks("# Kit\n\n- a laptop\n- a monitor\n  with a stand\n", "markdown")
    assert [b.text for b in blocks] == ["- a laptop", "- a monitor\n  with a stand"]


def test_plain_text_underlined_headings_only():
    doc = (
        "Benefits\n========\n\nPension matched to 6%.\n\n# 1 is not a heading\n\n"
        "Dental\n------\n\nTwo checkups."
    )
    blocks = extract_blocks(doc, "text")
    assert [(b.headings, b.text) for b in blocks] == [
        (("Benefits",), "Pension matched to 6%."),
        (("Benefits",), "# 1 is not a heading"),
        (("Benefits", "Dental"), "Two checkups."),
    ]
