"""A result as a report people read: a self-contained HTML page with inline SVG charts
(no script, no style sheet, font or image from elsewhere, so it opens offline), and the
same content in Markdown.

Shown: each total and the scopes that add up to it (carbon: operational and embodied;
water: datacenter, electricity and manufacturing), the same per inference, how much of each
total rests on disclosed, derived and assumed values (``basis``), the assumptions made, and
every resolved value with where it came from. Every number is a resolved field's value or,
per inference and scope, the scope times the share of its total one inference carries
(``exports.amortised``); each is marked with ``data-field`` and ``data-value`` so a program
can check what the page shows.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..core.resolve import Estimate
from ..views.json import cited_sources
from ..views.text import shown
from .basis import ASSUMED, BASES, DERIVED, DISCLOSED, Basis
from .exports import amortised, need, source_text, value_in
from .mapping import formats

DIGITS = 4  # significant digits of the figures worked out here (per inference and scope)
PERCENT = 100  # a share as a percentage
BAR_WIDTH = 560  # pixels of the longest bar of a chart
LABEL_WIDTH = 230  # pixels for the label column of a chart
VALUE_WIDTH = 150  # pixels for the value after a bar
ROW_HEIGHT = 30  # pixels per bar
BAR_HEIGHT = 18  # pixels of a bar
SHARE_HEIGHT = 34  # pixels of a share bar

COLOURS = {
    "operational_emissions_kgco2e": "#4e79a7",
    "embodied_emissions_kgco2e": "#f28e2b",
    "datacenter_water_l": "#2b8cbe",
    "electricity_water_l": "#7bccc4",
    "manufacturing_water_l": "#a6761d",
    DISCLOSED: "#2e7d32",
    DERIVED: "#1565c0",
    ASSUMED: "#e65100",
}
OTHER_COLOUR = "#888888"


@dataclass(frozen=True)
class Figure:
    """One number the report shows: what it is, its value and unit, and how it is marked."""

    key: str  # data-field: a field name, or "<scope>/per_inference"
    label: str
    value: float
    unit: str
    digits: int
    basis: str | None = None

    @property
    def text(self) -> str:
        """The number as shown (the field's significant digits)."""
        return shown(self.value, self.digits)


@dataclass
class Total:
    """A total, the scopes that add up to it, per run and per inference, and its basis."""

    title: str
    total: Figure
    per_inference: Figure | None
    scopes: list[Figure]
    scopes_per_inference: list[Figure]
    shares: dict[str, float | None]
    terms: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)


@dataclass
class Report:
    """Everything a report shows, worked out once for both the HTML and Markdown forms."""

    title: str
    about: list[str]
    totals: list[Total]
    assumptions: list[tuple[str, str, str, str]]  # field, value shown, rule id, reason
    rows: list[tuple[str, str, str, str, str]]  # field, value, status, basis, from
    sources: list[tuple[str, str]]
    figures: list[Figure]


def _figure(est: Estimate, basis: Basis, name: str, label: str | None = None) -> Figure:
    r = est.fields[name]
    spec = est.ruleset.fields[name]
    return Figure(name, label or name, float(r.value), r.unit, spec.digits, basis.of(name))


def _from(est: Estimate, name: str) -> str:
    r = est.fields[name]
    if r.rule is None:
        where = r.disclosed_at or est.disclosure.name
        return f"disclosed at {where}" + (f" ({r.disclosed_source})" if r.disclosed_source else "")
    return f"{r.status} {r.rule.id}"


def build(est: Estimate) -> Report:
    """The report's content from a result."""
    spec = formats()["report"]
    titles: dict[str, str] = spec["scope_titles"]
    basis = Basis(est)
    totals = []
    figures: list[Figure] = []
    for entry in spec["totals"]:
        name = entry["field"]
        need(est, name, *entry["scopes"])
        total = _figure(est, basis, name, entry["title"])
        scopes = [_figure(est, basis, s, titles.get(s, s)) for s in entry["scopes"]]
        per_inference = None
        per_scope: list[Figure] = []
        if entry["per_inference"] in est.fields:
            per_inference = _figure(est, basis, entry["per_inference"], "per inference")
            share = amortised(est, entry["amortised_as"])
            for s in scopes:
                value = value_in(est, s.key, per_inference.unit) * (share or 0.0)
                per_scope.append(
                    Figure(f"{s.key}/per_inference", s.label, value, per_inference.unit, DIGITS)
                )
        terms = [(t.field, t.basis, basis.assumptions(t.field)) for t in basis.terms(name)]
        totals.append(
            Total(
                entry["title"], total, per_inference, scopes, per_scope, basis.shares(name), terms
            )
        )
        figures.extend([total, *scopes, *per_scope])
        if per_inference is not None:
            figures.append(per_inference)
    assumptions = []
    for name, r in est.fields.items():
        if r.rule is not None and r.rule.assumption:
            spec_f = est.ruleset.fields[name]
            assumptions.append(
                (
                    name,
                    shown(r.value, spec_f.digits, r.unit),
                    r.rule.id,
                    " ".join(r.rule.reason.split()),
                )
            )
    rs = est.ruleset
    listed = [*rs.outputs, *(n for n in rs.report if n not in rs.outputs)]
    listed += [n for n in est.fields if n not in listed]
    rows = []
    for name in listed:
        if name not in est.fields:
            continue
        r = est.fields[name]
        rows.append(
            (
                name,
                shown(r.value, rs.fields[name].digits, r.unit),
                r.status,
                basis.of(name),
                _from(est, name),
            )
        )
    sources = [(k, rs.sources[k].text()) for k in cited_sources(est)]
    about = [
        f"disclosure {est.disclosure.id} ({est.disclosure.name})",
        source_text(est),
        "rounding: " + " ".join(rs.rounding.split()),
    ]
    title = f"Carbon and water of fine-tuning: {est.disclosure.id}"
    return Report(title, about, totals, assumptions, rows, sources, figures)


# -- HTML ------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1000px;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}.about{color:#555;font-size:.9rem;margin:.1rem 0}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1rem}.card{border:1px solid #ddd;
border-radius:6px;padding:.7rem 1rem;flex:1 1 180px}.card .label{color:#555;font-size:.85rem}
.card .big{font-size:1.5rem;font-weight:600}table{border-collapse:collapse;width:100%;
font-size:.85rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;
vertical-align:top}td.n{text-align:right;white-space:nowrap}svg{max-width:100%;height:auto}
.basis-disclosed{color:#2e7d32}.basis-derived{color:#1565c0}.basis-assumed{color:#e65100}
.note{color:#555;font-size:.85rem}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(f: Figure, css: str = "num") -> str:
    return (
        f'<span class="{css}" data-field="{_e(f.key)}" data-value="{f.value!r}">'
        f"{_e(f.text)}</span>"
    )


def _unit(unit: str) -> str:
    return "" if unit in ("1", "-") else f" {_e(unit)}"


def _bars(title: str, figures: list[Figure]) -> str:
    """A horizontal bar chart of figures of one unit, as inline SVG."""
    top = max((f.value for f in figures), default=0.0) or 1.0
    height = ROW_HEIGHT * len(figures) + ROW_HEIGHT // 2
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{_e(title)}"><title>{_e(title)}</title>'
    ]
    for i, f in enumerate(figures):
        y = i * ROW_HEIGHT + ROW_HEIGHT // 4
        length = max(0.0, f.value) / top * BAR_WIDTH
        colour = COLOURS.get(f.key.split("/")[0], OTHER_COLOUR)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 4}" text-anchor="end" '
            f'font-size="13">{_e(f.label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.2f}" height="{BAR_HEIGHT}" '
            f'fill="{colour}"><title>{_e(f.label)}: {_e(f.text)}{_unit(f.unit)}</title></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.2f}" y="{y + BAR_HEIGHT - 4}" font-size="13">'
            f'<tspan class="num" data-field="{_e(f.key)}" data-value="{f.value!r}">{_e(f.text)}'
            f"</tspan>{_unit(f.unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _share_bar(total: Total) -> str:
    """A bar split by basis: the share of the total resting on each."""
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = SHARE_HEIGHT + ROW_HEIGHT
    label = f"{total.title}: share resting on disclosed, derived and assumed values"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{_e(label)}"><title>{_e(label)}</title>',
        f'<text x="{LABEL_WIDTH - 8}" y="{SHARE_HEIGHT // 2 + 5}" text-anchor="end" '
        f'font-size="13">{_e(total.title)}</text>',
    ]
    x = float(LABEL_WIDTH)
    legend_x = float(LABEL_WIDTH)
    for b in BASES:
        share = total.shares.get(b)
        text = "none" if share is None else f"{share * PERCENT:.1f}%"
        length = (share or 0.0) * BAR_WIDTH
        if length:
            parts.append(
                f'<rect x="{x:.2f}" y="0" width="{length:.2f}" height="{SHARE_HEIGHT}" '
                f'fill="{COLOURS[b]}"><title>{b}: {text}</title></rect>'
            )
        x += length
        parts.append(
            f'<rect x="{legend_x:.2f}" y="{SHARE_HEIGHT + 8}" width="12" height="12" '
            f'fill="{COLOURS[b]}"/><text x="{legend_x + 16:.2f}" y="{SHARE_HEIGHT + 8 + 11}" '
            f'font-size="13">{b} <tspan class="share" data-total="{_e(total.total.key)}" '
            f'data-basis="{b}" data-value="{share!r}">{text}</tspan></text>'
        )
        legend_x += BAR_WIDTH / len(BASES)
    parts.append("</svg>")
    return "".join(parts)


def export_html(est: Estimate) -> str:
    """The self-contained HTML report (UTF-8 text)."""
    report = build(est)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="tuneprint {_e(__version__)}">',
        f"<title>{_e(report.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.title)}</h1>",
        *(f'<p class="about">{_e(line)}</p>' for line in report.about),
        '<section id="totals"><div class="cards">',
    ]
    for t in report.totals:
        out.append(
            f'<div class="card"><div class="label">{_e(t.title)} per run</div>'
            f'<div class="big">{_num(t.total)}{_unit(t.total.unit)}</div></div>'
        )
    for t in report.totals:
        if t.per_inference is not None:
            out.append(
                f'<div class="card"><div class="label">{_e(t.title)} per inference</div>'
                f'<div class="big">{_num(t.per_inference)}{_unit(t.per_inference.unit)}</div>'
                "</div>"
            )
    out.append("</div></section>")
    for t in report.totals:
        slug = t.title.lower()
        out.append(f'<section id="{_e(slug)}"><h2>{_e(t.title)} by scope</h2>')
        out.append(_bars(f"{t.title} by scope, per run ({t.total.unit})", t.scopes))
        if t.per_inference is not None and t.scopes_per_inference:
            out.append(f"<h3>{_e(t.title)} per inference</h3>")
            out.append(
                _bars(
                    f"{t.title} by scope, per inference ({t.per_inference.unit})",
                    t.scopes_per_inference,
                )
            )
            out.append(
                '<p class="note">Per inference, each scope carries the share of the run that '
                f"one inference carries: {_num(t.per_inference)}{_unit(t.per_inference.unit)} "
                "in all.</p>"
            )
        out.append("</section>")
    out.append('<section id="basis"><h2>What the totals rest on</h2>')
    out.append(
        '<p class="note">Disclosed: computed from disclosed values by formulas alone. Derived: '
        "resting on reference tables or sourced constants too. Assumed: resting on at least "
        "one of tuneprint's assumptions. A total is split into the terms it adds up; each "
        "term takes the weakest basis of everything it is computed from.</p>"
    )
    for t in report.totals:
        out.append(_share_bar(t))
        out.append("<table><tr><th>term</th><th>basis</th><th>assumptions it rests on</th></tr>")
        for name, b, assumed in t.terms:
            out.append(
                f'<tr><td>{_e(name)}</td><td class="basis-{b}">{b}</td>'
                f"<td>{_e(', '.join(sorted(assumed)) or '-')}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    out.append('<section id="assumptions"><h2>Assumptions</h2>')
    if report.assumptions:
        out.append("<table><tr><th>field</th><th>value</th><th>rule</th><th>why</th></tr>")
        for name, value, rule, reason in report.assumptions:
            out.append(
                f'<tr><td>{_e(name)}</td><td class="n">{_e(value)}</td><td>{_e(rule)}</td>'
                f"<td>{_e(reason)}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>None: no value rests on an assumption.</p>")
    out.append("</section>")
    out.append('<section id="values"><h2>Every value</h2><table>')
    out.append("<tr><th>field</th><th>value</th><th>status</th><th>basis</th><th>from</th></tr>")
    for name, value, status, b, source in report.rows:
        out.append(
            f'<tr><td>{_e(name)}</td><td class="n">{_e(value)}</td><td>{_e(status)}</td>'
            f'<td class="basis-{b}">{b}</td><td>{_e(source)}</td></tr>'
        )
    out.append("</table></section>")
    if report.sources:
        out.append('<section id="sources"><h2>Sources</h2><ul>')
        out.extend(f"<li>[{_e(k)}] {_e(text)}</li>" for k, text in report.sources)
        out.append("</ul></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# -- Markdown --------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * PERCENT:.1f}%"


def export_markdown(est: Estimate) -> str:
    """The report in Markdown: the same figures and tables as the HTML, without charts."""
    report = build(est)
    out = [f"# {report.title}", "", *(f"- {_md(line)}" for line in report.about), ""]
    out += ["## Totals", "", "| total | per run | per inference |", "|---|---:|---:|"]
    for t in report.totals:
        per = (
            "-"
            if t.per_inference is None
            else f"{t.per_inference.text}{_unit(t.per_inference.unit)}"
        )
        out.append(f"| {t.title} | {t.total.text}{_unit(t.total.unit)} | {per} |")
    for t in report.totals:
        out += ["", f"## {t.title} by scope", ""]
        out += ["| scope | per run | per inference | basis |", "|---|---:|---:|---|"]
        by_scope = {f.key.split("/")[0]: f for f in t.scopes_per_inference}
        for s in t.scopes:
            q = by_scope.get(s.key)
            shown_p = "-" if q is None else f"{q.text}{_unit(q.unit)}"
            out.append(f"| {_md(s.label)} | {s.text}{_unit(s.unit)} | {shown_p} | {s.basis} |")
    out += ["", "## What the totals rest on", ""]
    out += [
        "Disclosed: computed from disclosed values by formulas alone. Derived: resting on "
        "reference tables or sourced constants too. Assumed: resting on at least one of "
        "tuneprint's assumptions. A total is split into the terms it adds up; each term takes "
        "the weakest basis of everything it is computed from.",
        "",
        "| total | disclosed | derived | assumed |",
        "|---|---:|---:|---:|",
    ]
    for t in report.totals:
        out.append(f"| {t.title} | " + " | ".join(_share(t.shares[b]) for b in BASES) + " |")
    out += ["", "## Assumptions", ""]
    if report.assumptions:
        out += ["| field | value | rule | why |", "|---|---:|---|---|"]
        for name, value, rule, reason in report.assumptions:
            out.append(f"| {name} | {_md(value)} | {rule} | {_md(reason)} |")
    else:
        out.append("None: no value rests on an assumption.")
    out += ["", "## Every value", "", "| field | value | status | basis | from |"]
    out.append("|---|---:|---|---|---|")
    for name, value, status, b, source in report.rows:
        out.append(f"| {name} | {_md(value)} | {status} | {b} | {_md(source)} |")
    if report.sources:
        out += ["", "## Sources", ""]
        out += [f"- [{k}] {_md(text)}" for k, text in report.sources]
    return "\n".join(out) + "\n"
