"""Demo logins and synthetic patient identities for the demo clinic (never in production).

Every demo account has the password :data:`DEMO_PASSWORD`, printed by ``spinetrack demo`` and
listed in the README, and is marked ``users.demo``. ``SPINETRACK_ENV=production`` refuses to
create them, refuses their sign-in, and refuses to start while :func:`find_demo_content` finds
demo accounts or demo data (the demo sites of :data:`spinetrack.synth.load.DEMO_SITES`, PROM
responses with source ``synthetic``) in the database.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select, text

from spinetrack.errors import ConfigurationError
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Store
from spinetrack.store.tables import PatientRow, PromResponseRow, SiteRow, UserRow
from spinetrack.synth.load import DEMO_SITES

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "find_demo_content", "seed_demo_access"]

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


def seed_demo_access(engine: Engine, *, env: str = "development") -> list[dict[str, str | None]]:
    """Create the demo accounts (if missing) and a synthetic identity for every patient that has
    none (name ``Demo patient <pseudonymous id>``, hospital number ``D<patient id>``)."""
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
        c.execute(text(
            "INSERT INTO patient_identities (patient_id, site_id, full_name, mrn, updated_at) "
            "SELECT p.id, p.site_id, 'Demo patient ' || p.pseudo_id, 'D' || CAST(p.id AS VARCHAR(20)), p.created_at "
            "FROM patients p WHERE NOT EXISTS (SELECT 1 FROM patient_identities i WHERE i.patient_id = p.id)"))
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
