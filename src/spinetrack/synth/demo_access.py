"""Demo logins and synthetic patient identities for the demo clinic (never in production).

Every demo account has the password :data:`DEMO_PASSWORD`, printed by ``spinetrack demo`` and
listed in the README, and is marked ``users.demo``. ``SPINETRACK_ENV=production`` refuses to
create them, refuses their sign-in, and refuses to start while :func:`find_demo_content` finds
demo accounts or demo data (the demo sites of :data:`spinetrack.synth.load.DEMO_SITES`, PROM
responses with source ``synthetic``) in the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import Engine, func, insert, select

from spinetrack.domain.pathway import DEFAULT_SCHEDULE
from spinetrack.errors import ConfigurationError
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Store
from spinetrack.store.tables import PatientIdentityRow, PatientRow, PromResponseRow, SiteRow, UserRow
from spinetrack.synth.load import DEMO_SITES

__all__ = ["DEMO_EMAIL_DOMAIN", "DEMO_PASSWORD", "DEMO_PHONE_RANGE", "DEMO_SCHEDULE_INSTRUMENTS", "DEMO_USERS",
           "demo_contact", "demo_schedule_entries", "find_demo_content", "seed_demo_access"]

DEMO_PASSWORD = "spinetrack-demo"
# username, display name, role, site code (None: no site)
DEMO_USERS = (
    ("north.clinician", "Dr N. Demo (North)", "clinician", "DEMO-N"),
    ("north.coordinator", "C. Demo (North)", "coordinator", "DEMO-N"),
    ("central.clinician", "Dr C. Demo (Central)", "clinician", "DEMO-C"),
    ("south.clinician", "Dr S. Demo (South)", "clinician", "DEMO-S"),
    ("researcher", "R. Demo (research)", "researcher", None),
    ("admin", "A. Demo (admin)", "admin", None),
)


#: Demo e-mail addresses are under example.org, a domain reserved for documentation and examples
#: (RFC 2606, section 3): mail to it is never delivered to a person.
DEMO_EMAIL_DOMAIN = "example.org"
#: Demo mobile numbers come from the range the UK regulator Ofcom keeps for drama and never
#: allocates, 07700 900000 to 07700 900999, stored in E.164 form (+447700900000 ...).
DEMO_PHONE_RANGE = (447700900000, 447700900999)
# Shares of the demo patients by the contact details they have and the channel they prefer
# (synthetic; cumulative upper bounds of a uniform number drawn from the patient id):
# e-mail only / e-mail and phone, by e-mail / e-mail and phone, by SMS / phone only / neither (letters).
_CONTACT_MIX = ((0.60, True, False, "email"), (0.72, True, True, "email"), (0.80, True, True, "sms"),
                (0.92, False, True, "sms"), (1.00, False, False, "letter"))
_NO_CONSENT = 0.04  # share who did not agree to be contacted (synthetic)
_OPTED_OUT_EVERY = 1000  # patients 500, 1500, ... asked to be contacted no more (one or two per 2,000)


#: The questionnaires of every visit of the demo clinics' follow-up schedule: those the synthetic
#: cohort answers at baseline, 3, 6, 12 and 24 months. (The registry's visit default adds work
#: status and analgesic use, which the generator does not draw; with them no synthetic visit
#: would count as complete.)
DEMO_SCHEDULE_INSTRUMENTS = ("odi", "nrs_back", "nrs_leg", "eq5d5l")


def demo_schedule_entries() -> list[dict[str, Any]]:
    """The demo clinics' follow-up schedule, as ``followup.schedule.set_site_schedule`` takes it:
    the default timepoints, windows and reminder days, with :data:`DEMO_SCHEDULE_INSTRUMENTS`."""
    return [{"timepoint": tp, "instruments": list(DEMO_SCHEDULE_INSTRUMENTS)} for tp in DEFAULT_SCHEDULE]


def _uniform(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (not the cohort generator's draws, which stay untouched)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2.0**64


def demo_contact(patient_id: int, pseudo_id: str, today: dt.date) -> dict[str, Any]:
    """The fictitious contact details of one demo patient: an e-mail address at
    :data:`DEMO_EMAIL_DOMAIN` for most, a mobile number in :data:`DEMO_PHONE_RANGE` for some,
    neither for a few (they get letters), a postal address (fictitious, obviously so) for all, the
    preferred channel, whether they agreed to be contacted, and for one or two the date they
    opted out (before ``today``). A pure function of its arguments."""
    u = _uniform(f"contact:{patient_id}")
    _, has_email, has_phone, channel = next(row for row in _CONTACT_MIX if u < row[0])
    lo, hi = DEMO_PHONE_RANGE
    opted_out = patient_id % _OPTED_OUT_EVERY == _OPTED_OUT_EVERY // 2
    return {
        "email": f"{pseudo_id.lower()}@{DEMO_EMAIL_DOMAIN}" if has_email else None,
        "phone": f"+{lo + patient_id % (hi - lo + 1)}" if has_phone else None,
        "postal_address": f"{1 + patient_id % 199} Example Road\nDemotown\n(fictitious demo address)",
        "channel": channel,
        "contact_consent": _uniform(f"consent:{patient_id}") >= _NO_CONSENT,
        "opted_out_at": dt.datetime.combine(today - dt.timedelta(days=20), dt.time(9)) if opted_out else None,
    }


def seed_demo_access(engine: Engine, *, env: str = "development",
                     today: dt.date | None = None) -> list[dict[str, str | None]]:
    """Create the demo accounts (if missing) and a synthetic identity for every patient that has
    none (name ``Demo patient <pseudonymous id>``, hospital number ``D<patient id>``, fictitious
    contact details from :func:`demo_contact`; ``today`` dates the opt-outs, default the patient
    row's ``created_at``)."""
    if env == "production":
        raise ConfigurationError("demo accounts are refused when SPINETRACK_ENV=production")
    store = Store(engine)
    access = Access(store)
    with engine.begin() as c:
        sites = dict(c.execute(select(SiteRow.code, SiteRow.id)).all())
        existing = set(c.execute(select(UserRow.username)).scalars())
    out = []
    for username, display, role, site in DEMO_USERS:
        if site is not None and site not in sites:
            continue
        if username not in existing:
            access.create_user(SYSTEM, username=username, display_name=display, role=role, password=DEMO_PASSWORD,
                               site_id=sites.get(site) if site else None, demo=True)
        out.append({"username": username, "role": role, "site": site})
    with engine.begin() as c:
        missing = c.execute(
            select(PatientRow.id, PatientRow.site_id, PatientRow.pseudo_id, PatientRow.created_at)
            .where(~select(PatientIdentityRow.patient_id).where(PatientIdentityRow.patient_id == PatientRow.id)
                   .exists()).order_by(PatientRow.id)).all()
        rows = [{"patient_id": pid, "site_id": site, "full_name": f"Demo patient {pseudo}", "mrn": f"D{pid}",
                 "updated_at": created, **demo_contact(pid, pseudo, today or created.date())}
                for pid, site, pseudo, created in missing]
        for start in range(0, len(rows), 5000):
            c.execute(insert(PatientIdentityRow), rows[start:start + 5000])
    return out


def find_demo_content(engine: Engine) -> list[str]:
    """What in this database comes from ``spinetrack demo``, one plain sentence per kind (an
    empty list when nothing does): demo accounts, demo sites and their patients, synthetic PROM
    responses. A production start refuses a database for which this is not empty."""
    codes = [code for code, _, _ in DEMO_SITES]
    found = []
    with engine.connect() as c:
        users = c.execute(select(UserRow.username).where(UserRow.demo.is_(True)).order_by(UserRow.username)
                          ).scalars().all()
        sites = [(int(i), str(code)) for i, code in c.execute(
            select(SiteRow.id, SiteRow.code).where(SiteRow.code.in_(codes)).order_by(SiteRow.code))]
        patients = c.execute(select(func.count()).select_from(PatientRow).where(
            PatientRow.site_id.in_([i for i, _ in sites]))).scalar_one() if sites else 0
        synthetic = c.execute(select(func.count()).select_from(PromResponseRow).where(
            PromResponseRow.source == "synthetic")).scalar_one()
    if users:
        found.append(f"{len(users)} demo account(s): {', '.join(users)}")
    if sites:
        found.append(f"{len(sites)} demo site(s) ({', '.join(code for _, code in sites)}) with {patients} patient(s)")
    if synthetic:
        found.append(f"{synthetic} synthetic PROM response(s)")
    return found
