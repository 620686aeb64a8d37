"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_log_hash'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id'], unique=False)
        batch_op.create_index('ix_audit_log_patient', ['patient_id'], unique=False)

    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('code', name=op.f('uq_sites_code'))
    )
    op.create_table('timepoints',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('target_days', sa.Integer(), nullable=False),
    sa.Column('window_from_days', sa.Integer(), nullable=False),
    sa.Column('window_to_days', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_timepoints'))
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pseudo_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('birth_year', sa.Integer(), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('bmi', sa.Float(), nullable=True),
    sa.Column('smoking', sa.String(length=8), nullable=True),
    sa.Column('diabetes', sa.Boolean(), nullable=True),
    sa.Column('asa_grade', sa.Integer(), nullable=True),
    sa.Column('work_status', sa.String(length=24), nullable=True),
    sa.Column('symptom_duration_weeks', sa.Integer(), nullable=True),
    sa.Column('prior_spine_surgery', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("sex IN ('female','male','other','unknown')", name=op.f('ck_patients_sex')),
    sa.CheckConstraint("smoking IS NULL OR smoking IN ('never','former','current')", name=op.f('ck_patients_smoking')),
    sa.CheckConstraint('asa_grade IS NULL OR asa_grade BETWEEN 1 AND 5', name=op.f('ck_patients_asa_grade')),
    sa.CheckConstraint('bmi IS NULL OR bmi BETWEEN 10 AND 90', name=op.f('ck_patients_bmi')),
    sa.CheckConstraint('symptom_duration_weeks IS NULL OR symptom_duration_weeks >= 0',
        name=op.f('ck_patients_symptom_duration')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_patients_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('pseudo_id', name=op.f('uq_patients_pseudo_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ix_patients_site', ['site_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role IN ('clinician','coordinator','researcher','admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_users_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('episodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('diagnosis_code', sa.String(length=10), nullable=False),
    sa.Column('diagnosis_group', sa.String(length=40), nullable=False),
    sa.Column('levels', sa.String(length=40), nullable=False),
    sa.Column('n_levels', sa.Integer(), nullable=False),
    sa.Column('conservative_care', sa.String(length=64), nullable=True),
    sa.Column('conservative_care_weeks', sa.Integer(), nullable=True),
    sa.Column('treatment', sa.String(length=16), nullable=True),
    sa.Column('treatment_family', sa.String(length=16), nullable=True),
    sa.Column('enrolled_on', sa.Date(), nullable=False),
    sa.Column('index_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("treatment IS NULL OR treatment IN ('conservative','mis','open')",
        name=op.f('ck_episodes_treatment')),
    sa.CheckConstraint("treatment_family IS NULL OR treatment_family IN ('discectomy','decompression','fusion')",
        name=op.f('ck_episodes_family')),
    sa.CheckConstraint('n_levels BETWEEN 1 AND 5', name=op.f('ck_episodes_n_levels')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
        name=op.f('fk_episodes_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes'))
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index('ix_episodes_patient', ['patient_id'], unique=False)

    op.create_table('imaging_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('morphology', sa.String(length=16), nullable=True),
    sa.Column('zone', sa.String(length=16), nullable=True),
    sa.Column('pfirrmann', sa.String(length=4), nullable=True),
    sa.Column('stenosis_grade', sa.String(length=2), nullable=True),
    sa.Column('meyerding', sa.String(length=4), nullable=True),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_imaging_findings_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_findings'))
    )
    with op.batch_alter_table('imaging_findings', schema=None) as batch_op:
        batch_op.create_index('ix_imaging_findings_episode', ['episode_id'], unique=False)

    op.create_table('procedures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('procedure_code', sa.String(length=40), nullable=False),
    sa.Column('family', sa.String(length=16), nullable=False),
    sa.Column('approach', sa.String(length=8), nullable=False),
    sa.Column('technique', sa.String(length=40), nullable=True),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('levels', sa.String(length=40), nullable=False),
    sa.Column('n_levels', sa.Integer(), nullable=False),
    sa.Column('incision_mm', sa.Float(), nullable=True),
    sa.Column('ebl_ml', sa.Float(), nullable=True),
    sa.Column('op_time_min', sa.Float(), nullable=True),
    sa.Column('fluoro_s', sa.Float(), nullable=True),
    sa.Column('fluoro_dose_mgy', sa.Float(), nullable=True),
    sa.Column('los_days', sa.Float(), nullable=True),
    sa.Column('transfusion', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(approach = 'mis') = (technique IS NOT NULL)", name=op.f('ck_procedures_technique')),
    sa.CheckConstraint("approach IN ('mis','open')", name=op.f('ck_procedures_approach')),
    sa.CheckConstraint("family IN ('discectomy','decompression','fusion')", name=op.f('ck_procedures_family')),
    sa.CheckConstraint('ebl_ml IS NULL OR ebl_ml >= 0', name=op.f('ck_procedures_ebl')),
    sa.CheckConstraint('fluoro_dose_mgy IS NULL OR fluoro_dose_mgy >= 0', name=op.f('ck_procedures_fluoro_dose')),
    sa.CheckConstraint('fluoro_s IS NULL OR fluoro_s >= 0', name=op.f('ck_procedures_fluoro_s')),
    sa.CheckConstraint('incision_mm IS NULL OR incision_mm >= 0', name=op.f('ck_procedures_incision')),
    sa.CheckConstraint('los_days IS NULL OR los_days >= 0', name=op.f('ck_procedures_los')),
    sa.CheckConstraint('op_time_min IS NULL OR op_time_min >= 0', name=op.f('ck_procedures_op_time')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_procedures_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedures'))
    )
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.create_index('ix_procedures_episode', ['episode_id'], unique=False)

    op.create_table('prom_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('timepoint', sa.String(length=16), nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('instrument_version', sa.String(length=16), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('days_from_index', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('score_detail', sa.JSON(), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_prom_responses_episode_id_episodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['timepoint'], ['timepoints.code'], name=op.f('fk_prom_responses_timepoint_timepoints')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prom_responses')),
    sa.UniqueConstraint('episode_id', 'timepoint', 'instrument', name='uq_prom_responses_episode_tp_instrument'),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_prom_responses_idempotency_key'))
    )
    with op.batch_alter_table('prom_responses', schema=None) as batch_op:
        batch_op.create_index('ix_prom_responses_instrument_tp', ['instrument', 'timepoint'], unique=False)

    op.create_table('readmissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('admitted_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_readmissions_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readmissions'))
    )
    with op.batch_alter_table('readmissions', schema=None) as batch_op:
        batch_op.create_index('ix_readmissions_episode', ['episode_id'], unique=False)

    op.create_table('reoperations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('levels', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_reoperations_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reoperations'))
    )
    with op.batch_alter_table('reoperations', schema=None) as batch_op:
        batch_op.create_index('ix_reoperations_episode', ['episode_id'], unique=False)

    op.create_table('complications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('procedure_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('clavien_dindo', sa.String(length=4), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("clavien_dindo IN ('I','II','IIIa','IIIb','IVa','IVb','V')",
        name=op.f('ck_complications_clavien_dindo')),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_complications_episode_id_episodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['procedure_id'], ['procedures.id'],
        name=op.f('fk_complications_procedure_id_procedures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complications'))
    )
    with op.batch_alter_table('complications', schema=None) as batch_op:
        batch_op.create_index('ix_complications_episode', ['episode_id'], unique=False)



    _audit_append_only()
    _seed_timepoints()


_PG_AUDIT = """
CREATE OR REPLACE FUNCTION spinetrack_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION spinetrack_audit_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION spinetrack_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION spinetrack_audit_append_only();
"""


def _audit_append_only() -> None:
    """UPDATE and DELETE (and TRUNCATE on PostgreSQL) of audit rows are refused by the database."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(_PG_AUDIT)


def _seed_timepoints() -> None:
    """Seed the follow-up schedule (spinetrack.domain.pathway.TIMEPOINTS at revision 0001)."""
    table = sa.table(
        "timepoints",
        sa.column("code", sa.String), sa.column("label", sa.String), sa.column("target_days", sa.Integer),
        sa.column("window_from_days", sa.Integer), sa.column("window_to_days", sa.Integer),
        sa.column("position", sa.Integer),
    )
    rows = [
        ("baseline", "Before treatment", 0, -180, 0), ("2w", "2 weeks", 14, 1, 28), ("6w", "6 weeks", 42, 29, 63),
        ("3m", "3 months", 91, 64, 182), ("12m", "12 months", 365, 274, 547), ("24m", "24 months", 730, 548, 912),
    ]
    op.bulk_insert(table, [
        {"code": c, "label": lab, "target_days": t, "window_from_days": a, "window_to_days": b, "position": i}
        for i, (c, lab, t, a, b) in enumerate(rows)
    ])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    with op.batch_alter_table('complications', schema=None) as batch_op:
        batch_op.drop_index('ix_complications_episode')

    op.drop_table('complications')
    with op.batch_alter_table('reoperations', schema=None) as batch_op:
        batch_op.drop_index('ix_reoperations_episode')

    op.drop_table('reoperations')
    with op.batch_alter_table('readmissions', schema=None) as batch_op:
        batch_op.drop_index('ix_readmissions_episode')

    op.drop_table('readmissions')
    with op.batch_alter_table('prom_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_prom_responses_instrument_tp')

    op.drop_table('prom_responses')
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.drop_index('ix_procedures_episode')

    op.drop_table('procedures')
    with op.batch_alter_table('imaging_findings', schema=None) as batch_op:
        batch_op.drop_index('ix_imaging_findings_episode')

    op.drop_table('imaging_findings')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index('ix_episodes_patient')

    op.drop_table('episodes')
    op.drop_table('users')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ix_patients_site')

    op.drop_table('patients')
    op.drop_table('timepoints')
    op.drop_table('sites')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_patient')
        batch_op.drop_index('ix_audit_log_entity')

    op.drop_table('audit_log')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS spinetrack_audit_append_only()")
