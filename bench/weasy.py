"""The same English A4 handout as an HTML page (Jinja2) rendered by WeasyPrint, for comparison.

Same content, Noto Sans from src/leafgen/text/fonts (@font-face), sizes, colours, column width and running
header/footer with "Page X of Y" as leafgen's handout. WeasyPrint is optional: `pip install weasyprint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from floor import FONTS, _date, load_content

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ leaflet.title }}</title>
<style>
@font-face { font-family: "Noto Sans"; font-weight: 400; src: url("{{ fonts }}/NotoSans-Regular.ttf"); }
@font-face { font-family: "Noto Sans"; font-weight: 700; src: url("{{ fonts }}/NotoSans-Bold.ttf"); }
@page {
  size: A4;
  margin: {{ t.margin_mm + small * 0.2 }}mm {{ margin_x }}pt {{ t.margin_mm + small * 0.4 }}mm;
  @top-left { content: "{{ header }}"; font: {{ small }}pt "Noto Sans"; color: {{ c.muted }};
              border-bottom: 0.6pt solid {{ c.rule }}; width: 100%; }
  @bottom-left { content: "{{ footer }}\\A Page " counter(page) " of " counter(pages); white-space: pre;
                 font: {{ small }}pt "Noto Sans"; color: {{ c.muted }}; }
}
html { font-family: "Noto Sans"; font-size: {{ t.body_size }}pt; line-height: {{ t.leading }}; color: {{ c.text }}; }
body { margin: 0; }
h1, h2, .title { font-weight: 700; margin: 0; }
.title { font-size: {{ t.title_size }}pt; line-height: 1.2; color: {{ c.accent }};
         margin-bottom: {{ t.body_size * 0.6 }}pt; }
h1 { font-size: {{ t.h1_size }}pt; color: {{ c.accent }};
     margin: {{ t.body_size * 0.9 }}pt 0 {{ t.body_size * 0.35 }}pt; }
h2 { font-size: {{ t.h2_size }}pt; margin: {{ t.body_size * 0.6 }}pt 0 {{ t.body_size * 0.3 }}pt; }
p { margin: 0 0 {{ t.body_size * 0.5 }}pt; }
ul { margin: 0 0 {{ t.body_size * 0.4 }}pt; padding-left: {{ t.body_size * 1.3 }}pt; }
li { margin-bottom: {{ t.body_size * 0.2 }}pt; }
.small { font-size: {{ small }}pt; color: {{ c.muted }}; margin-bottom: 2pt; }
.box { padding: {{ t.box_padding }}pt; margin: {{ t.body_size * 0.6 }}pt 0; border: 1pt solid; }
.summary { background: {{ c.summary_fill }}; border-color: {{ c.summary_fill }}; }
.urgent { background: {{ c.urgent_fill }}; border: 2pt solid {{ c.urgent_edge }}; }
.disclaimer { background: {{ c.disclaimer_fill }}; border-color: {{ c.disclaimer_edge }}; }
</style>
</head>
<body>
<div class="title">{{ leaflet.title }}</div>
<div class="box summary"><p>{{ leaflet.summary }}</p></div>
{% for section in leaflet.sections %}
<div{% if section.style == "urgent" %} class="box urgent"{% endif %}>
  <h1>{{ section.heading }}</h1>
  {% for block in section.content %}
  {% if block is mapping %}<ul>{% for item in block.bullets %}<li>{{ item }}</li>{% endfor %}</ul>
  {% else %}<p>{{ block }}</p>{% endif %}
  {% endfor %}
</div>
{% endfor %}
<div class="box disclaimer"><h2>{{ disclaimer.heading }}</h2><p>{{ disclaimer.text }}</p></div>
{% if clinic.phone or clinic.email or clinic.address %}
<h2>Contact your clinic</h2>
<p>{{ clinic.name }}{% if clinic.address %}, {{ clinic.address }}{% endif %}</p>
{% if clinic.phone %}<p>Phone: {{ clinic.phone }}</p>{% endif %}
{% if clinic.email %}<p>Email: {{ clinic.email }}</p>{% endif %}
{% endif %}
<h2>About this leaflet</h2>
<p class="small">Sources:</p>
<ul class="small">{% for s in leaflet.document.sources %}<li>{{ s }}</li>{% endfor %}</ul>
</body>
</html>
"""


def template() -> jinja2.Template:
    return jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(PAGE)


def context(content: dict[str, Any]) -> dict[str, Any]:
    from floor import REGULAR, SAMPLE, register_fonts
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth

    register_fonts()
    theme, lf, clinic = content["theme"], content["leaflet"], content["clinic"]
    t = theme["standard"]
    width = min(
        A4[0] - 2 * t["margin_mm"] * mm, t["measure"] * stringWidth(SAMPLE, REGULAR, t["body_size"]) / len(SAMPLE)
    )
    header = "  |  ".join([clinic["name"]] + ([f"Phone: {clinic['phone']}"] if clinic.get("phone") else []))
    d = lf["document"]
    return {
        **content,
        "t": t,
        "c": theme["colours"],
        "small": t["small_size"],
        "margin_x": round((A4[0] - width) / 2, 2),
        "fonts": FONTS.as_uri(),
        "header": header,
        "footer": f"Version {d['version']}  |  Published {_date(d['published'])}  |  Review due {_date(d['review'])}",
    }


def render(tmpl: jinja2.Template, ctx: dict[str, Any]) -> tuple[bytes, int]:
    """Jinja2 HTML, then WeasyPrint layout and PDF: the whole per-document cost."""
    from weasyprint import HTML

    document = HTML(string=tmpl.render(**ctx), base_url=str(FONTS)).render()
    return document.write_pdf(), len(document.pages)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    pdf, pages = render(template(), context(load_content()))
    Path("weasy-handout.pdf").write_bytes(pdf)
    print(f"weasyprint: {len(pdf)} bytes, {pages} pages -> weasy-handout.pdf")
