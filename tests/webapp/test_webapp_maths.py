"""README maths rendered on the server as MathML (latex2mathml): no script, no CDN; money, code and bad TeX stay text,
and the sanitiser still strips anything that could run."""
from __future__ import annotations

from tests.conftest import shared_path
from webapp.markdown import render_markdown


def test_inline_and_block_maths_become_mathml():
    html = render_markdown("Scale $c_i = k \\cdot \\sigma_i$ per row.\n\n$$\n\\frac{a}{b}\n$$\n")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert "<msub><mi>c</mi><mi>i</mi></msub>" in html and "$" not in html
    assert 'display="block"><mrow><mfrac>' in html


def test_money_code_and_unreadable_tex_stay_text():
    html = render_markdown("About $30 out of pocket plus $170 in credits, $0.19/hr.\n\n`$x$` and\n\n"
                           "```\nSEED=$SEED $y$\n```\n\nbroken $\\frac{a}{$ here")
    assert "<math" not in html
    assert "$30 out of pocket plus $170 in credits, $0.19/hr." in html
    assert "<code>$x$</code>" in html and "SEED=$SEED $y$" in html and "<code>\\frac{a}{</code>" in html


def test_maths_cannot_smuggle_markup():
    html = render_markdown("$<script>alert(1)</script>$ and $\\href{javascript:alert(1)}{x}$")
    assert "<script" not in html and "javascript:" not in html


def test_a_real_readmes_maths():
    readme = shared_path("records", "track_10min_16mb", "2026-04-06_SP8192_HessianSDClip_ProgressiveRecurrence",
                         "README.md").read_text()
    html = render_markdown(readme)
    assert html.count("<math ") >= 5 and "\\lambda" not in html and "<mi>λ</mi>" in html
