"""TeX maths in READMEs ($...$ inline, $$...$$ as a block) turned into MathML on the server with latex2mathml,
which browsers draw natively: no script, no CDN. Code spans and fenced code are left alone (markdown-it reads
them first), and a dollar that reads as money stays text: as in pandoc, an opening $ must be followed by a
non-space, a closing $ preceded by a non-space and not followed by a digit, and the next dollar must close
("$30 and $170" is not maths).
TeX that latex2mathml cannot read is shown as the source it was."""
from __future__ import annotations

from html import escape

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline

# what latex2mathml emits, for the sanitiser's allow-list
MATHML_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
               "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
               "menclose", "merror", "semantics", "annotation"}
MATHML_ATTRIBUTES = {"math": {"display", "xmlns"}, "mo": {"stretchy", "fence", "separator", "lspace", "rspace",
                                                       "largeop", "movablelimits", "form"},
                     "mspace": {"width"}, "mstyle": {"displaystyle", "scriptlevel", "mathvariant"},
                     "mi": {"mathvariant"}, "mtable": {"columnalign", "rowspacing", "columnspacing"},
                     "mtd": {"columnalign"}, "mover": {"accent"}, "munder": {"accentunder"},
                     "mfrac": {"linethickness"}, "menclose": {"notation"}}


def to_mathml(tex: str, display: str) -> str:
    try:
        return convert(tex, display=display)
    # latex2mathml raises its own errors and plain Python ones on input it cannot parse: the source is shown instead
    except Exception:  # noqa: BLE001
        return f"<code>{escape(tex)}</code>"


def _inline(state: StateInline, silent: bool) -> bool:
    src, start = state.src, state.pos
    if src[start] != "$" or src.startswith("$$", start) or start + 1 >= state.posMax or src[start + 1].isspace():
        return False
    end = start + 1
    while True:
        end = src.find("$", end)
        if end < 0 or end >= state.posMax:
            return False
        if src[end - 1] == "\\":
            end += 1
            continue
        if src[end - 1].isspace() or (end + 1 < len(src) and src[end + 1].isdigit()):
            return False  # the next dollar cannot close: this one is money, not maths
        break
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[start + 1:end]
    state.pos = end + 1
    return True


def _block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    begin = state.bMarks[start_line] + state.tShift[start_line]
    first = state.src[begin:state.eMarks[start_line]]
    if not first.startswith("$$"):
        return False
    rest = first[2:]
    line, body = start_line, []
    if rest.rstrip().endswith("$$") and rest.strip() != "":
        body.append(rest.rstrip()[:-2])
    else:
        body.append(rest)
        while True:
            line += 1
            if line >= end_line:
                return False
            text = state.src[state.bMarks[line] + state.tShift[line]:state.eMarks[line]]
            if text.rstrip().endswith("$$"):
                body.append(text.rstrip()[:-2])
                break
            body.append(text)
    if not silent:
        token = state.push("math_block", "math", 0)
        token.content = "\n".join(body).strip()
        token.map = [start_line, line + 1]
    state.line = line + 1
    return True


def maths_plugin(md: MarkdownIt) -> None:
    md.inline.ruler.before("escape", "math_inline", _inline)
    md.block.ruler.before("fence", "math_block", _block, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.add_render_rule("math_inline", lambda self, tokens, idx, options, env: to_mathml(tokens[idx].content, "inline"))
    md.add_render_rule("math_block",
                       lambda self, tokens, idx, options, env: f"<p>{to_mathml(tokens[idx].content, 'block')}</p>\n")
