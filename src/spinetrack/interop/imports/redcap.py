"""REDCap imports: a records export (flat CSV, raw codes; longitudinal with ``redcap_event_name``,
repeating instruments with ``redcap_repeat_instrument`` / ``redcap_repeat_instance``), its data
dictionary (REDCap's CSV: ``Variable / Field Name``, ``Form Name``, ``Field Type``,
``Choices, Calculations, OR Slider Labels``, ...) and a mapping file (JSON, or YAML when PyYAML is
installed) from the project's fields, events and choice codes to spinetrack's.

The mapping (``docs/import.md`` has a complete example; ``examples/import/redcap/mapping.json``)::

    {"record_id": "record_id",                       # the REDCap field that identifies a record
     "site": {"field": "site", "choices": {"1": "EXAMPLE-N"}},   # or {"constant": "EXAMPLE-N"}; or --site
     "events": {"enrolment_arm_1": "baseline", "surgery_arm_1": null, "month_3_arm_1": "3m"},
     "patient":   {"event": "enrolment_arm_1", "fields": {"birth_year": "yob",
                                                          "sex": {"field": "sex", "choices": {"1": "female"}}}},
     "episode":   {"event": "enrolment_arm_1", "fields": {"conservative_care":
                                                          {"field": "cons_care", "checkbox": {"1": "physiotherapy"}}}},
     "procedure": {"event": "surgery_arm_1", "fields": {...}},
     "complication": {"repeat_instrument": "complications", "fields": {...}},   # also readmission, reoperation
     "instruments": {"odi": {"collected_on": "odi_date",
                             "items": {"pain_intensity": {"field": "odi_1", "choices": {"1": 0, "2": 1}}}}}}

A field is a REDCap variable name (its raw value read by our field's type), an object with
``field`` and ``choices`` (REDCap code → our code or answer value), with ``checkbox`` (REDCap's
``name___code`` columns → a list of our codes), or ``{"constant": value}``. ``events`` maps every
event of the export: to a timepoint (responses in its rows are collected at that timepoint) or to
``null`` (no responses there). Each REDCap record is one patient with one episode (source id: the
record id), its procedure, its repeating complications / readmissions / reoperations (source id
``<record>/<instance>``) and one response per instrument and timepoint
(``<record>/<event>/<instrument>``).

:func:`load_mapping` checks the mapping against the data dictionary before any row is read:
a mapped REDCap field that is not in the dictionary, a choice code the dictionary does not list
for that field, one of our fields, timepoints, instruments or items that does not exist — every
problem at once (:class:`RedcapMappingError`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from spinetrack import instruments
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.errors import InputError
from spinetrack.interop.imports.csv_format import COLUMNS, _answer, _cell
from spinetrack.store.imports import SourceRecord

__all__ = ["DICTIONARY_COLUMNS", "RedcapMapping", "RedcapMappingError", "RedcapSource", "load_mapping",
           "read_dictionary", "read_redcap"]

#: The data dictionary columns spinetrack reads (REDCap's CSV data dictionary headers).
DICTIONARY_COLUMNS: Final = ("Variable / Field Name", "Form Name", "Field Type",
                             "Choices, Calculations, OR Slider Labels")
_CHOICE_TYPES = ("radio", "dropdown", "checkbox", "yesno", "truefalse")
_EVENT_ENTITIES = ("patient", "episode", "procedure")
_REPEAT_ENTITIES = ("complication", "readmission", "reoperation")


class RedcapMappingError(InputError):
    """A mapping that does not fit the data dictionary or spinetrack's fields; ``problems`` lists all."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("the REDCap mapping does not fit:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class DictField:
    """One variable of the data dictionary: its form, type and choice codes (empty: no choices)."""

    name: str
    form: str
    type: str
    choices: tuple[str, ...]


def _parse_choices(text: str, ftype: str) -> tuple[str, ...]:
    """REDCap's ``"1, Female | 2, Male"`` → ``("1", "2")``; yes/no and true/false fields have
    the implicit codes 1 and 0."""
    if ftype in ("yesno", "truefalse"):
        return ("1", "0")
    if ftype not in _CHOICE_TYPES or not text.strip():
        return ()
    return tuple(part.split(",", 1)[0].strip() for part in text.split("|") if part.strip())


def read_dictionary(path: str | Path) -> dict[str, DictField]:
    """The data dictionary: variable name → :class:`DictField`."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in DICTIONARY_COLUMNS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise RedcapMappingError([f"{Path(path).name}:1: not a REDCap data dictionary: the column "
                                      f"{c!r} is missing" for c in missing])
        out = {}
        for row in reader:
            name = (row.get(DICTIONARY_COLUMNS[0]) or "").strip()
            if name:
                ftype = (row.get("Field Type") or "").strip()
                out[name] = DictField(name, (row.get("Form Name") or "").strip(), ftype,
                                      _parse_choices(row.get(DICTIONARY_COLUMNS[3]) or "", ftype))
        return out


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one of our fields is read from a REDCap row."""

    target: str
    redcap: str | None = None  # the REDCap variable
    choices: Mapping[str, Any] | None = None
    checkbox: Mapping[str, Any] | None = None
    constant: Any = None


@dataclass(frozen=True, slots=True)
class RedcapMapping:
    """A checked mapping (see the module docstring)."""

    record_id: str
    events: Mapping[str, str | None]
    entities: Mapping[str, tuple[str | None, str | None, tuple[FieldSpec, ...]]]  # entity -> (event, repeat, fields)
    instruments: Mapping[str, tuple[FieldSpec | None, tuple[FieldSpec, ...]]]  # code -> (collected_on, items)
    site: FieldSpec | None = None
    source_system: str | None = None
    hash: str = ""
    repeat_forms: frozenset[str] = field(default_factory=frozenset)
    sites: tuple[dict[str, Any], ...] = ()  # site records to create or match (code, name, country)


def _load_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]  # optional: JSON needs nothing
        except ImportError:
            raise InputError(f"{path.name}: reading YAML needs PyYAML (pip install pyyaml); "
                             "or write the mapping as JSON") from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def load_mapping(path: str | Path, dictionary: Mapping[str, DictField]) -> RedcapMapping:
    """Read the mapping file and check it against the data dictionary and spinetrack's fields
    (every problem at once: :class:`RedcapMappingError`)."""
    p = Path(path)
    raw = _load_file(p)
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise RedcapMappingError([f"{p.name}: the mapping must be an object (see docs/import.md)"])
    known_keys = {"record_id", "site", "sites", "events", "instruments", "source_system", *_EVENT_ENTITIES,
                  *_REPEAT_ENTITIES}
    problems += [f"{p.name}: unknown key {k!r}; allowed: {', '.join(sorted(known_keys))}" for k in raw
                 if k not in known_keys]

    def spec(where: str, target: str, value: Any, *, allowed_values: Sequence[Any] | None = None) -> FieldSpec | None:
        if isinstance(value, str):
            value = {"field": value}
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a REDCap field name or an object with 'field' (and 'choices' "
                            f"or 'checkbox') or 'constant'")
            return None
        if "constant" in value:
            return FieldSpec(target, constant=value["constant"])
        name = value.get("field")
        if not isinstance(name, str) or name not in dictionary:
            problems.append(f"{where}: the REDCap field {name!r} is not in the data dictionary")
            return None
        dfield = dictionary[name]
        choices, checkbox = value.get("choices"), value.get("checkbox")
        for label, table in (("choices", choices), ("checkbox", checkbox)):
            if table is None:
                continue
            if not isinstance(table, dict):
                problems.append(f"{where}.{label}: expected an object of REDCap code → our value")
                continue
            if dfield.choices:
                bad = [str(k) for k in table if str(k) not in dfield.choices]
                if bad:
                    problems.append(f"{where}.{label}: REDCap code{'s' if len(bad) > 1 else ''} "
                                    f"{', '.join(bad)} not among the choices of {name!r} in the data dictionary "
                                    f"({', '.join(dfield.choices)})")
            if allowed_values is not None:
                wrong = [v for v in table.values() if v not in allowed_values and v is not None]
                if wrong:
                    problems.append(f"{where}.{label}: {wrong[0]!r} is not one of ours; allowed: "
                                    f"{', '.join(map(str, allowed_values))}")
        if checkbox is not None and dfield.type != "checkbox":
            problems.append(f"{where}: 'checkbox' needs a checkbox field; {name!r} is {dfield.type or 'untyped'}")
        return FieldSpec(target, name, {str(k): v for k, v in choices.items()} if isinstance(choices, dict) else None,
                         {str(k): v for k, v in checkbox.items()} if isinstance(checkbox, dict) else None)

    record_id = raw.get("record_id", "record_id")
    if record_id not in dictionary:
        problems.append(f"record_id: the REDCap field {record_id!r} is not in the data dictionary")
    events_raw = raw.get("events") or {}
    tp_codes = [tp.code for tp in TIMEPOINTS]
    events: dict[str, str | None] = {}
    if not isinstance(events_raw, dict):
        problems.append("events: expected an object of REDCap event name → our timepoint (or null)")
    else:
        for ev, tp in events_raw.items():
            if tp is not None and tp not in tp_codes:
                problems.append(f"events.{ev}: {tp!r} is not a timepoint; allowed: {', '.join(tp_codes)}, or null")
            events[str(ev)] = tp
    forms = {f.form for f in dictionary.values()}
    entities: dict[str, tuple[str | None, str | None, tuple[FieldSpec, ...]]] = {}
    for entity in (*_EVENT_ENTITIES, *_REPEAT_ENTITIES):
        block = raw.get(entity)
        if block is None:
            continue
        if not isinstance(block, dict) or not isinstance(block.get("fields"), dict):
            problems.append(f"{entity}: expected an object with 'fields' (our field → REDCap field)")
            continue
        event, repeat = block.get("event"), block.get("repeat_instrument")
        if event is not None and events and event not in events:
            problems.append(f"{entity}.event: {event!r} is not among the mapped events ({', '.join(events)})")
        if repeat is not None and repeat not in forms:
            problems.append(f"{entity}.repeat_instrument: {repeat!r} is not a form of the data dictionary "
                            f"({', '.join(sorted(forms))})")
        specs = []
        ours = COLUMNS[entity]
        for target, value in block["fields"].items():
            if target not in ours:
                problems.append(f"{entity}.fields.{target}: not a spinetrack {entity} field; allowed: "
                                f"{', '.join(ours)}")
                continue
            s = spec(f"{entity}.fields.{target}", target, value)
            if s is not None:
                specs.append(s)
        entities[entity] = (event, repeat, tuple(specs))
    for required in ("patient", "episode"):
        if required not in entities:
            problems.append(f"{required}: missing (every REDCap record is one patient with one episode)")
    inst_map: dict[str, tuple[FieldSpec | None, tuple[FieldSpec, ...]]] = {}
    for code, block in (raw.get("instruments") or {}).items():
        try:
            inst = instruments.get(code)
        except InputError:
            problems.append(f"instruments.{code}: not an instrument; allowed: "
                            f"{', '.join(i.definition.code for i in instruments.all())}")
            continue
        if not isinstance(block, dict) or not isinstance(block.get("items"), dict):
            problems.append(f"instruments.{code}: expected an object with 'items' (item code → REDCap field)")
            continue
        collected = spec(f"instruments.{code}.collected_on", "collected_on", block["collected_on"]) \
            if "collected_on" in block else None
        items = []
        codes = list(inst.definition.item_codes)
        for item, value in block["items"].items():
            if item not in codes:
                problems.append(f"instruments.{code}.items.{item}: not an item of {code}; allowed: {', '.join(codes)}")
                continue
            it = inst.definition.item(item)
            s = spec(f"instruments.{code}.items.{item}", item, value,
                     allowed_values=list(it.values) if it.values else None)
            if s is not None:
                items.append(s)
        inst_map[code] = (collected, tuple(items))
    site = spec("site", "site", raw["site"]) if raw.get("site") is not None else None
    sites = raw.get("sites") or []
    if not isinstance(sites, list) or not all(isinstance(x, dict) and "code" in x for x in sites):
        problems.append("sites: expected a list of objects with code, name and country")
        sites = []
    if problems:
        raise RedcapMappingError(problems)
    repeat_forms = frozenset(r for _e, r, _s in entities.values() if r)
    return RedcapMapping(record_id, events, entities, inst_map, site, raw.get("source_system"),
                         hashlib.sha256(p.read_bytes()).hexdigest(), repeat_forms,
                         tuple({k: v for k, v in x.items() if v is not None} for x in sites))


def _value(spec: FieldSpec, row: Mapping[str, str], kind: str) -> Any:
    if spec.redcap is None:
        return spec.constant
    if spec.checkbox is not None:
        ticked = [ours for code, ours in spec.checkbox.items()
                  if (row.get(f"{spec.redcap}___{code}") or "").strip() == "1"]
        return ticked or None
    raw = (row.get(spec.redcap) or "").strip()
    if not raw:
        return None
    if spec.choices is not None:
        return spec.choices.get(raw, raw)  # a code the mapping lacks: passed on, the writer names ours
    return _cell(raw, kind, ",")


class RedcapSource:
    """The records of a REDCap export through a mapping, re-read on each iteration (rows of one
    record together, as REDCap exports them)."""

    def __init__(self, export: str | Path, mapping: RedcapMapping) -> None:
        self.path = Path(export)
        self.mapping = mapping
        h = hashlib.sha256()
        lines = 0
        with self.path.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                lines += block.count(b"\n")
        self.files = {self.path.name: h.hexdigest()}
        self.rows = max(lines - 1, 0)
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        if mapping.record_id not in header:
            raise RedcapMappingError([f"{self.path.name}:1: the record id column {mapping.record_id!r} is missing"])
        self.longitudinal = "redcap_event_name" in header
        if self.longitudinal:
            self._check_events()
        self.first_event = next(iter(mapping.events), None)

    def _check_events(self) -> None:
        """Every event of the export must be mapped (to a timepoint or to null)."""
        unknown: dict[str, int] = {}
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                event = (row.get("redcap_event_name") or "").strip()
                if event not in self.mapping.events and event not in unknown:
                    unknown[event] = reader.line_num
        if unknown:
            raise RedcapMappingError([
                f"{self.path.name}:{line}: the event {event!r} is not in the mapping's events "
                f"({', '.join(self.mapping.events) or 'none'}); map it to a timepoint, or to null"
                for event, line in unknown.items()])

    def __iter__(self) -> Iterator[SourceRecord]:
        for i, site in enumerate(self.mapping.sites):
            yield SourceRecord("site", str(site["code"]), dict(site), None, f"mapping sites[{i}]")
        with self.path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            current: str | None = None
            rows: list[tuple[int, dict[str, str]]] = []
            for row in reader:
                rid = (row.get(self.mapping.record_id) or "").strip()
                if rid != current and rows:
                    yield from self._record(rows)
                    rows = []
                current = rid
                rows.append((reader.line_num, row))
            if rows:
                yield from self._record(rows)

    def _loc(self, line: int) -> str:
        return f"{self.path.name}:{line}"

    def _record(self, rows: list[tuple[int, dict[str, str]]]) -> Iterator[SourceRecord]:
        """One REDCap record's rows → its patient, episode, procedure, repeating events, responses."""
        m = self.mapping
        rid = (rows[0][1].get(m.record_id) or "").strip()
        out: dict[str, list[SourceRecord]] = {}
        for line, row in rows:
            event = (row.get("redcap_event_name") or "").strip() if self.longitudinal else None
            repeat = (row.get("redcap_repeat_instrument") or "").strip()
            instance = (row.get("redcap_repeat_instance") or "").strip()
            if repeat:
                for entity, (_ev, form, specs) in m.entities.items():
                    if form == repeat:
                        fields = self._fields(entity, specs, row)
                        out.setdefault(entity, []).append(SourceRecord(entity, f"{rid}/{instance or '1'}", fields,
                                                                       rid, self._loc(line)))
                continue
            for entity, (ev, form, specs) in m.entities.items():
                if form is None and (event is None or (ev or self.first_event) == event):
                    fields = self._fields(entity, specs, row)
                    if entity == "procedure" and not any(v is not None for v in fields.values()):
                        continue
                    parent = rid if entity != "patient" else self._site(row)
                    out.setdefault(entity, []).append(SourceRecord(entity, rid, fields, parent, self._loc(line)))
            timepoint = m.events.get(event) if event is not None else "baseline"
            if timepoint is None:
                continue
            for code, (collected, items) in m.instruments.items():
                answers = {s.target: _answer(code, s.target, str(v), ",") if isinstance(v, str) else v
                           for s in items if (v := _value(s, row, "text")) is not None}
                if not answers:
                    continue
                sid = f"{rid}/{event}/{code}" if event is not None else f"{rid}/{code}"
                fields = {"instrument": code, "timepoint": timepoint,
                          "collected_on": _value(collected, row, "date") if collected is not None else None,
                          "answers": answers}
                out.setdefault("response", []).append(SourceRecord("response", sid, fields, rid, self._loc(line)))
        episode, procedure = out.get("episode"), out.get("procedure")
        if episode and procedure:  # the operated levels default to the episode's
            for rec in procedure:
                if "levels" not in rec.fields and "levels" in episode[0].fields:
                    rec.fields["levels"] = episode[0].fields["levels"]
        for entity in ("patient", "episode", "procedure", *_REPEAT_ENTITIES, "response"):
            yield from out.get(entity, ())

    def _site(self, row: Mapping[str, str]) -> str | None:
        site = self.mapping.site
        if site is None:
            return None
        value = _value(site, row, "text")
        return None if value is None else str(value)

    @staticmethod
    def _fields(entity: str, specs: tuple[FieldSpec, ...], row: Mapping[str, str]) -> dict[str, Any]:
        out = {}
        for s in specs:
            v = _value(s, row, COLUMNS[entity][s.target])
            if v is not None:
                out[s.target] = v
        return out


def read_redcap(export: str | Path, *, dictionary: str | Path, mapping: str | Path) -> RedcapSource:
    """The records of a REDCap export: the dictionary read, the mapping checked against it."""
    return RedcapSource(export, load_mapping(mapping, read_dictionary(dictionary)))
