"""The published figure beside each scorecard row, with its context and its verdict.

:func:`literature_for` picks, for one claim and one scorecard comparison, the literature figure
to show beside the clinic's estimate, and lists every other related row as context, so that
evidence *against* a claim is shown as plainly as evidence for it.

Which figure (the hierarchy)
----------------------------
1. **Eligible rows.** Only rows the claims map relates to the claim as ``same_scale`` or
   ``convertible`` (converted with :func:`~spinetrack.evidence.claims_map.conversion_factor`,
   e.g. minutes to seconds), without a verification flag, and with a point estimate *and* an
   interval (a figure without an interval cannot give a verdict). Arm means with SDs and events
   per arm count: their MD or RR is computed with a Wald interval and labelled so.
2. **Matching comparison.** Rows of the scorecard comparison (discectomy, decompression,
   fusion). Rows of mixed lumbar procedures (``cross_cutting``) only when the comparison has no
   eligible row, labelled "mixed lumbar procedures".
3. **Level**, best first: published meta-analysis of RCTs; published meta-analysis including
   observational studies (or a systematic review with a pooled figure); a meta-analysis printed
   in a conference abstract; our own pool of at least two independent primary studies
   (:func:`~spinetrack.evidence.pooling.summarize_evidence`: REML, HKSJ); a single RCT; a
   single observational study.
4. **Within a level**: a source with a DOI or PMID before one known only from a web page (it
   can be checked), then more studies, more patients, the more recent, then file order.

The ``pooled`` comparison (all procedure families together, adjusted for the family) gets **no**
headline figure unless a mixed-procedure row is eligible: the literature compares MIS with
open surgery within one procedure family, and setting one family's figure beside an all-family
estimate would mislead (the blood-loss difference of fusion is ten times that of
decompression). Its entry lists the best figure of each family under ``by_family``, each
labelled with its family, and its context holds the related rows of every family.
``surgery_vs_conservative`` gets an entry without a figure: the literature base holds MIS
versus open comparisons only.

Verdict
-------
The clinic's rule (``spinetrack.analysis.claims.decide_verdict``) for a figure that is its own
single test: a published interval carries its own (unadjusted) significance and no margin of
no important difference is applied (published units differ from the clinic's instruments).
This package sits below ``analysis`` and cannot import it, so :func:`literature_verdict`
restates it and a test keeps the two in agreement: ``supported`` when the interval lies wholly
on the claimed side of no difference (0 for differences, 1 for ratios), ``contradicted`` when
wholly on the other side, ``inconclusive`` otherwise.

Examples
--------
>>> e = literature_for("blood_loss", "fusion")
>>> e.source_ids, e.estimate, e.ci_low, e.ci_high, e.unit, e.verdict
(('fus-park2018-blood-loss',), -269.5, -292.9, -246.2, 'mL', 'supported')
>>> literature_for("fluoro_dose", "fusion").verdict
'contradicted'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from spinetrack.domain.comparisons import COMPARISONS, FAMILIES
from spinetrack.evidence.citations import citation_as_dict, short_citation
from spinetrack.evidence.claims_map import (
    ClaimEvidence,
    Relation,
    claim_evidence,
    conversion_factor,
    relation,
)
from spinetrack.evidence.items import EvidenceItem
from spinetrack.evidence.pooling import EvidenceGroup, PooledEstimate, evidence_groups
from spinetrack.evidence.records import ArmSummary, Citation, PublishedEstimate
from spinetrack.evidence.vocab import Comparison, Design

__all__ = [
    "LEVELS",
    "ContextRow",
    "LiteratureEntry",
    "literature_for",
    "literature_verdict",
]

#: The hierarchy of figures, best first: (code, label).
LEVELS: Final[tuple[tuple[str, str], ...]] = (
    ("ma_rct", "meta-analysis of RCTs"),
    ("ma_obs", "meta-analysis including observational studies"),
    ("ma_conf", "meta-analysis in a conference abstract"),
    ("pooled_here", "pooled here from independent primary studies (random effects, REML, HKSJ)"),
    ("rct", "single RCT"),
    ("observational", "single observational study"),
)
_RANK: Final = {code: i + 1 for i, (code, _label) in enumerate(LEVELS)}
_LABEL: Final = dict(LEVELS)
_SCORECARD_COMPARISONS: Final = {c.key: c for c in COMPARISONS}
_RELATION_ORDER: Final = {r: i for i, r in enumerate(Relation)}
_RELATION_TEXT: Final = {
    Relation.SAME_SCALE: "same quantity and unit as the claim",
    Relation.CONVERTIBLE: "same quantity, exact unit conversion",
    Relation.UNIT_MISMATCH: "same concept, different unit, scale, measure or direction: not comparable",
    Relation.PROXY: "related quantity or another timepoint: context only",
    Relation.NARRATIVE: "direction or P value without an effect size",
}
_COMPARISON_TEXT: Final = {**{f: f for f in FAMILIES}, Comparison.CROSS_CUTTING.value: "mixed lumbar procedures"}


def literature_verdict(ci_low: float, ci_high: float, better: str, *, null: float = 0.0) -> str:
    """``supported`` / ``contradicted`` / ``inconclusive`` from an interval (module docstring).

    The rule of ``spinetrack.analysis.claims.decide_verdict`` for one test with no margin,
    restated here because evidence sits below analysis in the import layers.

    Parameters
    ----------
    ci_low, ci_high : float
        The interval, on the scale of ``null``.
    better : {"lower", "higher"}
        The direction that supports the claim.
    null : float
        No difference: 0 for differences, 1 for ratios.

    Returns
    -------
    str

    Examples
    --------
    >>> literature_verdict(-322.48, -143.33, "lower")
    'supported'
    >>> literature_verdict(1.19, 3.19, "lower", null=1.0)
    'contradicted'
    >>> literature_verdict(0.45, 1.28, "higher", null=1.0)
    'inconclusive'
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    below, above = ci_high < null, ci_low > null
    if (below and better == "lower") or (above and better == "higher"):
        return "supported"
    if (above and better == "lower") or (below and better == "higher"):
        return "contradicted"
    return "inconclusive"


@dataclass(frozen=True, eq=False)
class ContextRow:
    """A related literature row shown beside the figure: how it relates and why it is not it."""

    relation: Relation
    reason: str
    item: EvidenceItem

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping: the row (compact) plus ``relation`` and ``reason``."""
        d = self.item.as_dict(compact=True)
        d.update({"relation": self.relation.value, "relation_text": _RELATION_TEXT[self.relation],
                  "reason": self.reason})
        return d


@dataclass(frozen=True, eq=False)
class LiteratureEntry:
    """The literature column of one scorecard row (see the module docstring).

    Attributes
    ----------
    claim, comparison : str
        Scorecard claim and comparison keys.
    scope : str
        ``procedure`` (figure of the comparison's procedure family), ``mixed_procedures``
        (a mixed lumbar procedure figure), ``by_procedure_family`` (the ``pooled`` comparison:
        see ``by_family``) or ``not_covered`` (surgery versus conservative care).
    estimate, ci_low, ci_high, ci_level : float or None
        The figure as MIS − open in ``unit`` (differences, after ``conversion_factor``) or MIS
        / open (ratios); None when no figure is eligible (``gap`` says why).
    measure : str or None
        ``MD``, ``RD`` (differences) or ``RR`` (ratios) and ``scale`` (``difference`` or
        ``ratio``); ``null`` is 0 or 1.
    verdict : str or None
        :func:`literature_verdict` of the interval in the claim's direction ``better``.
    level, level_label, level_rank : str, str, int or None
        Where the figure stands in :data:`LEVELS`.
    source_ids : tuple of str
        The literature rows the figure comes from.
    k_studies, n_patients, design, certainty, quality :
        Size and quality label of the source.
    citations : tuple of Citation
    flags : tuple of str
        Verification flags of the source (always empty: flagged rows are never the figure).
    against_claim : bool
        The source row is marked AGAINST a popular MIS claim.
    effect_source : str or None
        ``published``, ``computed from the published arm data (...)`` or ``pooled here (...)``.
    gap : str
        Why there is no figure (empty when there is one).
    context : tuple of ContextRow
        Every other related row: other scales, proxies, narratives, flagged or lower-ranked
        figures, with the ones against the claim marked (``against``).
    by_family : tuple of LiteratureEntry
        ``pooled`` only: the figure of each procedure family (without context).
    summary : str
        The figure in one line of plain text.
    """

    claim: str
    comparison: str
    scope: str
    better: str
    claim_unit: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    measure: str | None = None
    scale: str | None = None
    unit: str | None = None
    null: float | None = None
    verdict: str | None = None
    level: str | None = None
    level_label: str | None = None
    level_rank: int | None = None
    source_ids: tuple[str, ...] = ()
    source_comparison: str | None = None
    outcome_label: str | None = None
    timepoint: str | None = None
    relation: str | None = None
    conversion_factor: float | None = None
    k_studies: int | None = None
    n_patients: int | None = None
    design: str | None = None
    certainty: str | None = None
    quality: str | None = None
    effect_source: str | None = None
    published_figure: str | None = None
    citations: tuple[Citation, ...] = ()
    citation_studies: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    against_claim: bool = False
    gap: str = ""
    notes: tuple[str, ...] = ()
    context: tuple[ContextRow, ...] = ()
    by_family: tuple[LiteratureEntry, ...] = ()
    summary: str = ""

    @property
    def has_figure(self) -> bool:
        """True when a figure is shown."""
        return self.estimate is not None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (the ``literature`` entry of a scorecard result)."""
        return {
            "claim": self.claim, "comparison": self.comparison, "scope": self.scope, "better": self.better,
            "claim_unit": self.claim_unit, "estimate": self.estimate, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "ci_level": self.ci_level, "measure": self.measure, "scale": self.scale,
            "unit": self.unit, "null": self.null, "verdict": self.verdict, "level": self.level,
            "level_label": self.level_label, "level_rank": self.level_rank, "source_ids": list(self.source_ids),
            "source_comparison": self.source_comparison,
            "source_comparison_label": _COMPARISON_TEXT.get(self.source_comparison or "", self.source_comparison),
            "outcome_label": self.outcome_label, "timepoint": self.timepoint, "relation": self.relation,
            "conversion_factor": self.conversion_factor, "k_studies": self.k_studies,
            "n_patients": self.n_patients, "design": self.design, "certainty": self.certainty,
            "quality": self.quality, "effect_source": self.effect_source,
            "published_figure": self.published_figure,
            "citations": [citation_as_dict(c, s) for c, s in zip(self.citations, self.citation_studies, strict=True)],
            "flags": list(self.flags), "against_claim": self.against_claim, "gap": self.gap,
            "notes": list(self.notes), "summary": self.summary,
            "context": [c.as_dict() for c in self.context],
            "by_family": [b.as_dict() for b in self.by_family],
        }


# ----------------------------------------------------------------------------- candidates


@dataclass(frozen=True, eq=False)
class _Candidate:
    level: str
    items: tuple[EvidenceItem, ...]
    relation: Relation
    factor: float
    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    k: int | None
    n: int | None
    design: str
    certainty: str | None
    quality: str
    effect_source: str
    against_claim: bool
    pooled: PooledEstimate | None = None

    @property
    def comparison(self) -> Comparison:
        return self.items[0].comparison

    @property
    def sort_key(self) -> tuple[int, int, int, int, int, int]:
        verifiable = any(i.citation.doi or i.citation.pmid for i in self.items)
        year = max((i.citation.year or 0) for i in self.items)
        return (_RANK[self.level], 0 if verifiable else 1, -(self.k or 1), -(self.n or 0), -year, 0)


def _level(item: EvidenceItem) -> str:
    if item.is_published_pool:
        if item.design is Design.MA_RCT:
            return "ma_rct"
        if item.design is Design.CONF:
            return "ma_conf"
        return "ma_obs"
    return "rct" if item.design is Design.RCT else "observational"


def _scaled(item: EvidenceItem, factor: float) -> tuple[float, float, float]:
    assert item.estimate is not None and item.ci_low is not None and item.ci_high is not None
    if item.is_ratio:
        return item.estimate, item.ci_low, item.ci_high
    return item.estimate * factor, item.ci_low * factor, item.ci_high * factor


def _item_candidate(claim: str, item: EvidenceItem) -> _Candidate | None:
    rec = item.record
    if rec is None or item.flags or item.estimate is None or item.ci_low is None or item.ci_high is None:
        return None
    rel = relation(claim, rec)
    if rel not in (Relation.SAME_SCALE, Relation.CONVERTIBLE) or item.effect_measure not in ("MD", "RD", "RR"):
        return None
    factor = conversion_factor(claim, rec)
    if factor is None:
        return None
    est, lo, hi = _scaled(item, factor)
    return _Candidate(
        level=_level(item), items=(item,), relation=rel, factor=factor, measure=str(item.effect_measure),
        estimate=est, ci_low=lo, ci_high=hi, k=item.k_studies or 1, n=item.n_patients, design=item.design.value,
        certainty=item.certainty, quality=item.quality, effect_source=str(item.effect_source),
        against_claim=item.against_claim)


def _pool_candidate(claim: str, group: EvidenceGroup) -> _Candidate | None:
    pooled = group.pooled
    if pooled is None or pooled.measure not in ("MD", "RR", "RD"):
        return None
    members = tuple(i for i in group.items if i.id in pooled.study_ids)
    rels = {relation(claim, m.record) for m in members if m.record is not None}
    factors = {conversion_factor(claim, m.record) for m in members if m.record is not None}
    if len(members) != pooled.k or len(rels) != 1 or len(factors) != 1:
        return None
    rel, factor = rels.pop(), factors.pop()
    if rel not in (Relation.SAME_SCALE, Relation.CONVERTIBLE) or factor is None:
        return None
    f = 1.0 if pooled.is_ratio else factor
    return _Candidate(
        level="pooled_here", items=members, relation=rel, factor=factor, measure=pooled.measure,
        estimate=pooled.estimate * f, ci_low=pooled.ci_low * f, ci_high=pooled.ci_high * f, k=pooled.k,
        n=pooled.n_patients, design="pooled_here", certainty=None,
        quality=f"pooled here from {pooled.k} independent primary studies ({pooled.description})",
        effect_source=f"pooled here ({pooled.description})", against_claim=any(m.against_claim for m in members),
        pooled=pooled)


def _related(claim: str, groups: Sequence[EvidenceGroup], comparisons: set[Comparison]) -> list[EvidenceItem]:
    return [i for g in groups if g.comparison in comparisons for i in g.items if claim in i.claims]


def _candidates(claim: str, groups: Sequence[EvidenceGroup], comparisons: set[Comparison]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for g in groups:
        if g.comparison not in comparisons:
            continue
        pool = _pool_candidate(claim, g)
        if pool is not None:
            out.append(pool)
        for item in g.items:
            c = _item_candidate(claim, item)
            if c is not None:
                out.append(c)
    return sorted(out, key=lambda c: c.sort_key)  # stable: file order breaks the last ties


def _link_note(ce: ClaimEvidence, item: EvidenceItem) -> str:
    return next((link.note for link in ce.links if link.outcome is item.outcome and link.note), "")


def _context(claim: str, ce: ClaimEvidence, items: Iterable[EvidenceItem], chosen: _Candidate | None
             ) -> tuple[ContextRow, ...]:
    shown = {i.id for i in chosen.items} if chosen else set()
    rows: list[tuple[tuple[int, int, int], ContextRow]] = []
    for n, item in enumerate(items):
        if item.id in shown or item.record is None:
            continue
        rel = Relation(item.claims[claim])
        note = _link_note(ce, item)
        if rel in (Relation.SAME_SCALE, Relation.CONVERTIBLE):
            if item.flags:
                reason = "flagged (" + ", ".join(item.flags) + "): never the headline figure"
            elif item.estimate is None:
                reason = "no effect size (" + "; ".join(item.reasons or ("arm figures only",)) + ")"
            elif item.ci_low is None:
                reason = "no interval: cannot give a verdict"
            elif chosen is not None and item.comparison is not chosen.comparison:
                reason = "mixed lumbar procedures: a figure of the procedure family itself comes first"
            elif chosen is not None and _level(item) == chosen.level:
                reason = (f"same level as the figure shown ({_LABEL[chosen.level]}), ranked below it: a DOI or "
                          "PMID first, then more studies, more patients, the more recent")
            elif chosen is not None:
                reason = f"lower in the hierarchy ({_LABEL[_level(item)]}) than the figure shown"
            else:
                reason = "not eligible as the headline figure"
        else:
            reason = _RELATION_TEXT[rel] + (f". {note}" if note else "")
        rows.append(((_RELATION_ORDER[rel], _RANK[_level(item)], n), ContextRow(rel, reason, item)))
    return tuple(r for _key, r in sorted(rows, key=lambda t: t[0]))


def _fmt(x: float) -> str:
    text = f"{x:.3g}" if x != 0 and abs(x) < 1 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _summary(c: _Candidate, unit: str, verdict: str, cmp_text: str) -> str:
    u = "" if c.measure == "RR" else f" {unit}"
    patients = f", {c.n:,} patients" if c.n else ""
    cites = "; ".join(dict.fromkeys(short_citation(i.citation, i.study) for i in c.items))
    return (f"{c.measure} {_fmt(c.estimate)}{u} (95% CI {_fmt(c.ci_low)} to {_fmt(c.ci_high)}); {c.quality}"
            f"{patients}; {cmp_text}; literature: {verdict} ({cites})")


def _entry(claim: str, comparison: str, ce: ClaimEvidence, groups: Sequence[EvidenceGroup],
           comparisons: set[Comparison], scope: str) -> LiteratureEntry:
    """The entry for one set of literature comparisons (exact first, cross-cutting as fallback)."""
    exact = comparisons - {Comparison.CROSS_CUTTING}
    cands = _candidates(claim, groups, exact) if exact else []
    if not cands and Comparison.CROSS_CUTTING in comparisons:
        cands = _candidates(claim, groups, {Comparison.CROSS_CUTTING})
        scope = "mixed_procedures" if cands else scope
    chosen = cands[0] if cands else None
    related = _related(claim, groups, comparisons)
    context = _context(claim, ce, related, chosen)
    unit = ce.unit
    if chosen is None:
        if not ce.covered:
            gap = ce.gap
        else:
            where = " or ".join(_COMPARISON_TEXT[c.value] for c in sorted(comparisons, key=list(Comparison).index))
            gap = (f"No published figure on the claim's scale ({ce.metric}, {unit}) with an interval for {where}"
                   + (f"; {ce.gap}" if ce.gap else "") + ".")
            if related:
                gap += " The related findings are listed as context."
        return LiteratureEntry(claim=claim, comparison=comparison, scope=scope, better=ce.better, claim_unit=unit,
                               gap=gap, context=context, summary=gap)
    ratio = chosen.measure == "RR"
    null = 1.0 if ratio else 0.0
    verdict = literature_verdict(chosen.ci_low, chosen.ci_high, ce.better, null=null)
    first = chosen.items[0]
    notes: list[str] = []
    if chosen.relation is Relation.CONVERTIBLE and not ratio:
        notes.append(f"converted to {unit} by the factor {chosen.factor:g}")
    if chosen.effect_source.startswith("computed"):
        notes.append("the difference was computed here from the published arm figures; the source does not print it")
    if chosen.pooled is not None:
        notes.extend(chosen.pooled.notes)
    link = _link_note(ce, first)
    if link:
        notes.append(link)
    cmp_text = _COMPARISON_TEXT[chosen.comparison.value]
    return LiteratureEntry(
        claim=claim, comparison=comparison, scope=scope, better=ce.better, claim_unit=unit,
        estimate=chosen.estimate, ci_low=chosen.ci_low, ci_high=chosen.ci_high, ci_level=0.95,
        measure=chosen.measure, scale="ratio" if ratio else "difference", unit="ratio" if ratio else unit,
        null=null, verdict=verdict, level=chosen.level, level_label=_LABEL[chosen.level],
        level_rank=_RANK[chosen.level], source_ids=tuple(i.id for i in chosen.items),
        source_comparison=chosen.comparison.value, outcome_label=first.outcome_label, timepoint=first.timepoint,
        relation=chosen.relation.value, conversion_factor=chosen.factor, k_studies=chosen.k, n_patients=chosen.n,
        design=chosen.design, certainty=chosen.certainty, quality=chosen.quality,
        effect_source=chosen.effect_source,
        published_figure=None if chosen.pooled is not None else first.figure,
        citations=tuple(i.citation for i in chosen.items), citation_studies=tuple(i.study for i in chosen.items),
        flags=tuple(sorted({f for i in chosen.items for f in i.flags})), against_claim=chosen.against_claim,
        notes=tuple(notes), context=context, summary=_summary(chosen, unit, verdict, cmp_text))


def _build(claim_key: str, comparison_key: str, groups: Sequence[EvidenceGroup]) -> LiteratureEntry | None:
    try:
        ce = claim_evidence(claim_key)
    except ValueError:
        return None
    spec = _SCORECARD_COMPARISONS.get(comparison_key)
    if spec is None and comparison_key != "cross_cutting":
        return None
    if spec is not None and spec.against_conservative:
        gap = ("The literature base compares MIS with open surgery only; it holds no figure for surgery versus "
               "conservative care.")
        return LiteratureEntry(claim=claim_key, comparison=comparison_key, scope="not_covered", better=ce.better,
                               claim_unit=ce.unit, gap=gap, summary=gap)
    if spec is not None and len(spec.families) > 1:  # several procedure families, e.g. "pooled"
        entry = _entry(claim_key, comparison_key, ce, groups, {Comparison.CROSS_CUTTING}, "by_procedure_family")
        families = tuple(_entry(claim_key, f, ce, groups, {Comparison(f)}, "procedure") for f in spec.families)
        # each family's context says why a row is not that family's figure; the family figures
        # themselves are shown above the context and are left out of it
        shown = {i for f in families for i in f.source_ids}
        seen: set[str] = set()
        context_rows: list[ContextRow] = []
        for row in (*entry.context, *(c for f in families for c in f.context)):
            if row.item.id not in seen and row.item.id not in shown:
                seen.add(row.item.id)
                context_rows.append(row)
        context = tuple(context_rows)
        families = tuple(_replace(f, context=()) for f in families)
        if entry.has_figure:
            return _replace(entry, by_family=families, context=context)
        gap = ("By procedure family: the published studies compare MIS with open surgery within one procedure family "
               f"({', '.join(spec.families[:-1])} or {spec.families[-1]}), and no figure covers the families together, "
               "so none is set beside the pooled estimate; the best figure of each family is listed with its family.")
        figures = [f"{f.comparison}: {f.summary}" for f in families if f.has_figure]
        return LiteratureEntry(claim=claim_key, comparison=comparison_key, scope="by_procedure_family",
                               better=ce.better, claim_unit=ce.unit, gap=gap if ce.covered else ce.gap,
                               context=context, by_family=families,
                               summary="by procedure family" + (": " + " | ".join(figures) if figures else ": none"))
    literature = Comparison(spec.families[0] if spec is not None and spec.families else comparison_key)
    return _entry(claim_key, comparison_key, ce, groups, {literature, Comparison.CROSS_CUTTING}, "procedure")


def _replace(entry: LiteratureEntry, **changes: Any) -> LiteratureEntry:
    return replace(entry, **changes)


@functools.lru_cache(maxsize=512)
def _shipped(claim_key: str, comparison_key: str) -> LiteratureEntry | None:
    return _build(claim_key, comparison_key, evidence_groups())


def literature_for(claim_key: str, comparison_key: str, *, studies: Iterable[PublishedEstimate] | None = None,
                   arms: Iterable[ArmSummary] | None = None) -> LiteratureEntry | None:
    """The literature figure (and its context) for one scorecard row.

    Parameters
    ----------
    claim_key : str
        A scorecard claim key (``spinetrack.domain.claims``).
    comparison_key : str
        A scorecard comparison: ``discectomy``, ``decompression``, ``fusion``, ``pooled`` or
        ``surgery_vs_conservative`` (``cross_cutting`` is also accepted).
    studies, arms : iterable, optional
        Literature rows to use instead of the shipped package data.

    Returns
    -------
    LiteratureEntry or None
        None when the claim or the comparison is outside the literature base's vocabulary. An
        entry without a figure (``estimate`` None) when nothing is eligible, with the reason in
        ``gap`` (the claims map's gap where the claim is not covered at all).

    Examples
    --------
    >>> e = literature_for("length_of_stay", "decompression")
    >>> e.level, e.estimate, (e.ci_low, e.ci_high), e.k_studies, e.n_patients, e.verdict
    ('ma_conf', -3.26, (-6.38, -0.13), 4, 618, 'supported')
    >>> literature_for("wrong_level", "fusion").gap
    'No retrieved source reports wrong-level surgery for MIS versus open.'
    >>> literature_for("blood_loss", "pooled").scope
    'by_procedure_family'
    >>> literature_for("blood_loss", "no_such_comparison") is None
    True
    """
    if studies is None and arms is None:
        return _shipped(claim_key, comparison_key)
    return _build(claim_key, comparison_key, evidence_groups(studies, arms))
