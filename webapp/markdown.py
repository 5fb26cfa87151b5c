"""A record's README as HTML that cannot run anything: raw HTML in the Markdown is shown as text, and the
result goes through an allow-list sanitiser as well, in case the renderer ever lets something through."""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import escape

from webapp.maths import MATHML_ATTRIBUTES, MATHML_TAGS, maths_plugin

# tables and strikethrough, as READMEs on GitHub use them, and $maths$ as MathML; html off escapes every raw tag
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"]).use(maths_plugin)


def _image_note(renderer, tokens, index, options, env) -> str:
    """An image as a visible note: the files beside a README are not served, and a picture that vanished without a
    trace reads as a gap in the text."""
    token = tokens[index]
    alt = "".join(child.content for child in token.children or [])
    note = f"[image not shown: {alt or 'no description'} ({token.attrGet('src')})]"
    return f"<em>{escape(note)}</em>"


_renderer.add_render_rule("image", _image_note)
_TAGS = {"a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
         "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}
_TAGS |= MATHML_TAGS
_ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}, **MATHML_ATTRIBUTES}


def render_markdown(text: str) -> str:
    html = _renderer.render(text)
    # images and relative links in a README point at files beside it, which this app does not serve:
    # images are notes (above) and such links keep their text only
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     url_relative="deny", filter_style_properties={"text-align"})
