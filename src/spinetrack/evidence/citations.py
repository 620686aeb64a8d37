"""How a literature source is cited: a stable key that decides which rows come from the same
publication, a short label (``Park Y et al. 2018``) and the JSON form with its DOI, PubMed and PMC
links.
"""

from __future__ import annotations

from typing import Any

from spinetrack.evidence.records import Citation

__all__ = ["citation_as_dict", "citation_key", "short_citation"]


def citation_key(citation: Citation, study: str = "") -> str:
    """A stable key for one source: DOI, else PMID, else PMCID, else address, else the label.

    Rows with the same key come from the same publication, so they are never treated as
    independent studies.

    Examples
    --------
    >>> c = Citation("", 2018, "", "Yonsei Med J", "", "", "", "10.3349/YMJ.2018.59.4.524", "", "", "", "")
    >>> citation_key(c)
    'doi:10.3349/ymj.2018.59.4.524'
    """
    if citation.doi:
        return "doi:" + citation.doi.lower()
    if citation.pmid:
        return "pmid:" + citation.pmid
    if citation.pmcid:
        return "pmc:" + citation.pmcid.upper()
    if citation.url:
        return "url:" + citation.url
    return "study:" + study


def short_citation(citation: Citation, study: str = "") -> str:
    """``Park Y et al. 2018``-style label (first author, year), else the study label.

    Examples
    --------
    >>> short_citation(Citation("Sun ZJ, Li WJ, Zhao Y, Qiu GX", 2013, "", "Chin Med J", "126", "20",
    ...                         "3962", "", "", "", "", ""))
    'Sun ZJ et al. 2013'
    """
    authors = citation.authors.strip()
    if authors:
        first = authors.split(",")[0].replace(" et al.", "").replace(" et al", "").strip()
        many = "," in authors or "et al" in authors
        text = first + (" et al." if many else "")
        return f"{text} {citation.year}" if citation.year else text
    if study:
        return study
    return " ".join(x for x in (citation.journal, str(citation.year or "")) if x) or citation.link


def citation_as_dict(citation: Citation, study: str = "") -> dict[str, Any]:
    """JSON form of a citation: its fields, the one-line ``text``, ``short`` label, ``key`` and
    the DOI / PubMed / PMC links (``doi_url``, ``pubmed_url``, ``pmc_url``) when known.

    Examples
    --------
    >>> c = Citation("Smith N et al.", 2013, "", "Eur Spine J", "22", "11", "2458-2465",
    ...              "10.1007/s00586-013-2848-8", "23793558", "", "", "")
    >>> d = citation_as_dict(c)
    >>> d["doi_url"], d["pubmed_url"], d["short"]
    ('https://doi.org/10.1007/s00586-013-2848-8', 'https://pubmed.ncbi.nlm.nih.gov/23793558/', 'Smith N et al. 2013')
    """
    return {
        "authors": citation.authors, "year": citation.year, "title": citation.title, "journal": citation.journal,
        "volume": citation.volume, "issue": citation.issue, "pages": citation.pages, "doi": citation.doi,
        "pmid": citation.pmid, "pmcid": citation.pmcid, "url": citation.url, "alt_url": citation.alt_url,
        "study": study, "text": citation.format(), "short": short_citation(citation, study),
        "key": citation_key(citation, study),
        "doi_url": f"https://doi.org/{citation.doi}" if citation.doi else None,
        "pubmed_url": f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/" if citation.pmid else None,
        "pmc_url": f"https://pmc.ncbi.nlm.nih.gov/articles/{citation.pmcid}/" if citation.pmcid else None,
    }
