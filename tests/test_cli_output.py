"""What the CLI prints for a person: whole words, an ellipsis where text is cut, no raw Markdown."""

from llmops.entrypoints.human import search_text

HIT = {
    "score": 0.6934,
    "source": "leave/pto-policy.md",
    "heading": "Annual Leave > 2.1 Full-time employees",
    "text": "Full-time employees receive **27 working days** of paid annual leave in each leave "
    "year.\n\n" + "Public holidays differ between Leeds, Lisbon and Austin. " * 12,
}


def test_search_hits_show_source_heading_and_whole_words():
    shown = search_text([HIT], "default@1a25fb325481").splitlines()
    assert shown[0] == "1. [0.693] leave/pto-policy.md — Annual Leave > 2.1 Full-time employees"
    assert shown[-1] == "context default@1a25fb325481"
    body = shown[1:-1]
    assert all(line.startswith("   ") and len(line) <= 100 for line in body)
    text = " ".join(line.strip() for line in body)
    assert "27 working days" in text
    assert "**" not in text
    assert text.endswith(" …")
    words = set(HIT["text"].replace("**", "").split())
    assert all(word in words for word in text.removesuffix(" …").split())  # none cut mid-word


def test_no_hits_say_so():
    assert search_text([]).splitlines()[0] == "no results"
