"""Medication currency: which of a patient's active orders are current, which are likely stale, and why.

The rule set, with its reasoning and sources, is docs/medication-currency.md; this module is its one
implementation (patient_summary and search_medication_requests(current_only=true) both use it). In brief: an
active order covers the patient until a day that depends on its kind (the end of an inpatient stay; the day of a
one-time order; a short course's stop or the end of its supply; a prescription's validity, a year at most, for
as-needed orders; the end of the supply for long-term therapy), and long-term therapy stays current through a
grace period after that day, because patients refill late. Orders are grouped into drugs (by RxNorm code where
coded, else by the drug's normalised name), a drug is current when any of its active orders is, and every
verdict keeps its reason. Nothing here reads the wall clock: `today` is passed in (in the patient's frame).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import EpicMcpError
from ..render.datatypes import concept_label
from .collect import Collected, collect, effective_time, newest_first

if TYPE_CHECKING:
    from ..fhir.client import FhirClient

WALK_PAGES = 10
LONG_TERM_GRACE_DAYS = 90  # a refill this late (or one fill's supply, if longer) still counts as taking the drug
PRESCRIPTION_VALID_DAYS = 365  # the longest a prescription stays valid without a stated end
MAINTENANCE_SUPPLY_DAYS = 28  # a fill this long (or any refill) marks maintenance therapy when the course is unsaid
RXNORM = "rxnorm"
# Encounter classes (v3 ActCode) of a stay: an inpatient order placed during one ends with it.
STAY_CLASSES = {"IMP", "EMER", "ACUTE", "NONAC", "OBSENC", "SS", "inpatient", "emergency"}
ENDED_STATUSES = {"finished", "cancelled", "entered-in-error"}
# Order categories that are meant to outlive the encounter they were written in.
TAKE_HOME = {"community", "discharge", "outpatient"}
ONE_TIME_CODES = {"once", "one time", "x1", "1x", "stat", "now"}
KIND_WORDS = {"as-needed": "as-needed order", "seasonal": "seasonal order", "short course": "short course",
              "long-term": "long-term therapy", "unstated": "order"}
UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30,
             "a": 365, "year": 365, "years": 365, "h": 1 / 24, "hour": 1 / 24, "hours": 1 / 24}
# Words of a drug's name that say its salt, form, strength or release, not which drug it is.
NOT_THE_DRUG = {
    "hydrochloride", "hcl", "hydrobromide", "sodium", "potassium", "calcium", "magnesium", "besylate", "besilate",
    "maleate", "mesylate", "succinate", "tartrate", "citrate", "sulfate", "sulphate", "phosphate", "acetate",
    "fumarate", "bromide", "chloride", "monohydrate", "dihydrate", "trihydrate", "anhydrous", "disodium",
    "tablet", "tablets", "tab", "tabs", "capsule", "capsules", "cap", "caps", "oral", "solution", "suspension",
    "injection", "injectable", "inhaler", "inhalation", "powder", "cream", "ointment", "gel", "patch", "spray",
    "nasal", "ophthalmic", "drops", "extended", "release", "delayed", "er", "xr", "xl", "sr", "dr", "cr", "la",
    "film", "coated", "chewable", "disintegrating", "topical", "transdermal", "pen", "prefilled", "syringe", "vial",
    "aerosol", "metered", "dose", "hfa", "hr", "for", "in", "of", "per", "actuat", "product", "liquid", "elixir",
    "mg", "mcg", "ml", "unt", "unit", "units", "meq", "g", "kg", "%",
}


@dataclass(frozen=True)
class Verdict:
    """One active order judged: current or likely stale, with the reason (for a current order, the caveat a
    clinician should know, such as an overdue refill; '' when there is none)."""

    current: bool
    reason: str


@dataclass
class Drug:
    """One drug and its active orders, newest first, each with its verdict."""

    name: str
    orders: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return any(v.current for v in self.verdicts)

    @property
    def shown(self) -> int:
        """Index of the order that stands for the drug: its newest current order, else its newest order."""
        return next((i for i, v in enumerate(self.verdicts) if v.current), 0)

    @property
    def order(self) -> dict[str, Any]:
        return self.orders[self.shown]

    @property
    def verdict(self) -> Verdict:
        return self.verdicts[self.shown]


@dataclass
class MedicationList:
    """A patient's active orders judged, drug by drug, and what the walk through them read."""

    drugs: list[Drug]
    orders: Collected

    @property
    def current(self) -> list[Drug]:
        """The current drugs, newest first by the order that stands for each."""
        return sorted((d for d in self.drugs if d.current), key=lambda d: effective_time(d.order), reverse=True)

    @property
    def stale(self) -> list[Drug]:
        return [d for d in self.drugs if not d.current]


async def medication_list(fhir: FhirClient, patient_id: str, today: date, *,
                          encounters: Awaitable[Collected] | None = None,
                          patient: Awaitable[dict[str, Any]] | None = None, pages: int = WALK_PAGES
                          ) -> MedicationList:
    """Read a patient's active orders (and, unless given, the encounters and the patient they are judged against)
    and judge them. A patient that cannot be read is judged as living."""
    params = [("patient", patient_id)]
    orders, stays = await asyncio.gather(
        collect(fhir, "MedicationRequest", [*params, ("status", "active")], patient_id, pages),
        encounters or collect(fhir, "Encounter", params, patient_id, pages))
    try:
        person: dict[str, Any] | None = await (patient or fhir.read("Patient", patient_id))
    except EpicMcpError:
        person = None
    by_id = {e["id"]: e for e in stays.items if isinstance(e.get("id"), str)}
    return MedicationList(classify(orders.items, by_id, person, today), orders)


# Which drug an order is for -----------------------------------------------------------------------------------

def medication_concept(order: dict[str, Any]) -> dict[str, Any]:
    """The order's medication as a CodeableConcept: its own, a contained Medication's code, or the reference's
    display as text (Epic names the drug there: 'lisinopril (PRINIVIL,ZESTRIL) 5 MG tablet')."""
    if isinstance(order.get("medicationCodeableConcept"), dict):
        return order["medicationCodeableConcept"]
    reference = order.get("medicationReference")
    if not isinstance(reference, dict):
        return {}
    target = reference.get("reference")
    if isinstance(target, str) and target.startswith("#"):
        contained = next((c for c in order.get("contained") or [] if isinstance(c, dict)
                          and c.get("id") == target[1:]), None)
        if contained is not None and isinstance(contained.get("code"), dict):
            return contained["code"]
    display = reference.get("display")
    return {"text": display} if isinstance(display, str) else {}


def drug_name(order: dict[str, Any]) -> str:
    return concept_label(medication_concept(order)) or "unnamed drug"


def normalised_name(name: str) -> str:
    """Which drug a name is, without brand, strength, salt, form or release: 'Metformin (Glucophage)', 'metformin
    hydrochloride 500 MG Oral Tablet' and 'Metformin ER' are all 'metformin'; a combination keeps every part in
    one order ('amoxicillin+clavulanate')."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)
    parts = []
    for part in re.split(r"\s*(?:/|\+|-|\band\b|,)\s*", text):
        part = re.split(r"(?<![a-z\d])\d", part, maxsplit=1)[0]  # the strength and what follows it
        found = re.findall(r"\w+", part)
        words = [w for w in found if w not in NOT_THE_DRUG] or found  # potassium chloride is the drug
        if words and len(" ".join(words)) > 2:
            parts.append(" ".join(words))
    return "+".join(sorted(dict.fromkeys(parts))) or " ".join(text.split())


def drug_keys(order: dict[str, Any]) -> set[str]:
    """What identifies the drug of an order: its RxNorm codes and its normalised name; two orders that share any
    of these are the same drug."""
    concept = medication_concept(order)
    keys = {f"rxnorm:{c['code']}" for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("code") and RXNORM in str(c.get("system", "")).lower()}
    names = [concept.get("text"), *(c.get("display") for c in concept.get("coding") or [] if isinstance(c, dict))]
    keys |= {f"name:{normalised_name(n)}" for n in names if isinstance(n, str) and n.strip()}
    return keys


def drug_key(order: dict[str, Any]) -> str:
    """One stable key per drug for an order on its own (the code inventory's): its RxNorm code, else its name."""
    keys = sorted(drug_keys(order))
    return next((k for k in keys if k.startswith("rxnorm:")), keys[0] if keys else "name:")


def group_by_drug(orders: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Orders in groups of one drug each (orders sharing a code or a name, transitively), in the order given."""
    parent = list(range(len(orders)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, order in enumerate(orders):
        for key in drug_keys(order):
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[dict[str, Any]]] = {}
    for i, order in enumerate(orders):
        groups.setdefault(root(i), []).append(order)
    return list(groups.values())


def classify(orders: list[dict[str, Any]], encounters: dict[str, dict[str, Any]], patient: dict[str, Any] | None,
             today: date) -> list[Drug]:
    """One Drug per drug with an active order, newest order first: current drugs and stale ones, never both."""
    active = [o for o in newest_first(orders) if o.get("status") == "active"]
    drugs = []
    for group in group_by_drug(active):
        verdicts = [judge(o, encounters, patient, today) for o in group]
        drugs.append(Drug(drug_name(group[0]), group, verdicts))
    return drugs


# Why an order is current or not -------------------------------------------------------------------------------

def judge(order: dict[str, Any], encounters: dict[str, dict[str, Any]], patient: dict[str, Any] | None,
          today: date) -> Verdict:
    """The verdict on one active order, by the rules of docs/medication-currency.md, first rule that applies."""
    if patient and (patient.get("deceasedBoolean") is True or patient.get("deceasedDateTime")):
        died = _day(patient.get("deceasedDateTime"))
        return Verdict(False, f"the patient died {died.isoformat()}" if died else "the patient is deceased")
    stay = _stay(order, encounters, today)
    if stay is not None:
        ended, stay_end = stay
        if ended:
            return Verdict(False, f"inpatient order of a stay that ended {stay_end}")
        return Verdict(True, "inpatient order of a stay still going")
    written = _day(_at(order, "dispenseRequest", "validityPeriod", "start")) or _day(order.get("authoredOn"))
    kind = order_kind(order)
    if kind == "one-time":
        when = _day(_first_bound(order, "start")) or written
        if when is not None and when < today:
            return Verdict(False, f"one-time order for {when.isoformat()}")
        return Verdict(True, "")
    end, how = covered_until(order, kind, written)
    if end is None:
        return Verdict(True, "no end date, supply or date written on the order: current by its status only")
    if today <= end:
        return Verdict(True, "")
    if kind == "long-term":
        grace = grace_days(order)
        if today <= end + timedelta(days=grace):
            return Verdict(True, f"refill overdue: {how} {end.isoformat()}, within the {grace}-day grace period "
                                 "for long-term therapy")
        return Verdict(False, f"long-term therapy: {how} {end.isoformat()}, and the {grace}-day grace period for a "
                              "late refill has passed")
    return Verdict(False, f"{KIND_WORDS[kind]}: {how} {end.isoformat()}")


def grace_days(order: dict[str, Any]) -> int:
    """How late a long-term drug's refill may be and the drug still count as taken: LONG_TERM_GRACE_DAYS, or one
    fill's days of supply when that is longer (a 90-day fill is refilled 90 days late as easily)."""
    supply = _days(_at(order, "dispenseRequest", "expectedSupplyDuration"))
    return max(LONG_TERM_GRACE_DAYS, round(supply) if supply else 0)


def order_kind(order: dict[str, Any]) -> str:
    """one-time, as-needed, seasonal, short course, long-term, or unstated (no course, no maintenance supply)."""
    dosages = [d for d in order.get("dosageInstruction") or [] if isinstance(d, dict)]
    if any(_one_time(d) for d in dosages) and not _repeats(order):
        return "one-time"
    if any(d.get("asNeededBoolean") is True or isinstance(d.get("asNeededCodeableConcept"), dict) for d in dosages):
        return "as-needed"
    course = _coded(order.get("courseOfTherapyType"))
    if course == "continuous":
        return "long-term"
    if course in ("acute", "seasonal"):
        return "short course" if course == "acute" else "seasonal"
    supply = _days(_at(order, "dispenseRequest", "expectedSupplyDuration"))
    if _repeats(order) > 0 or (supply is not None and supply >= MAINTENANCE_SUPPLY_DAYS):
        return "long-term"
    return "unstated"


def covered_until(order: dict[str, Any], kind: str, written: date | None) -> tuple[date | None, str]:
    """The last day an order covers, and how that day was found (words that precede the date)."""
    dispense: dict[str, Any] = order["dispenseRequest"] if isinstance(order.get("dispenseRequest"), dict) else {}
    validity_end = _day(_at(dispense, "validityPeriod", "end"))
    if kind in ("as-needed", "seasonal"):
        if validity_end is not None:
            return validity_end, "its prescription was valid until"
        if written is not None:
            return written + timedelta(days=PRESCRIPTION_VALID_DAYS), \
                f"written {written.isoformat()} and not renewed; a prescription is valid a year at most, until"
        return None, ""
    stop = _stop(order)
    if stop is not None:
        return stop, "its dosage was to stop"
    supply = _days(dispense.get("expectedSupplyDuration"))
    if supply is not None and written is not None:
        fills = 1 + _repeats(order)
        refills = f" and {fills - 1} refill{'s' if fills > 2 else ''}" if fills > 1 else ""
        return written + timedelta(days=supply * fills), \
            f"its supply ({supply:g} days{refills} from {written.isoformat()}) ran out"
    if validity_end is not None:
        return validity_end, "its prescription was valid until"
    if written is not None:
        return written + timedelta(days=PRESCRIPTION_VALID_DAYS), \
            f"written {written.isoformat()} with no end, supply or renewal; a prescription is valid a year at " \
            "most, until"
    return None, ""


def _stay(order: dict[str, Any], encounters: dict[str, dict[str, Any]], today: date) -> tuple[bool, str] | None:
    """For an inpatient order: whether its stay has ended, and when. None for any other order. An order is an
    inpatient one when its category says so, or, with no category, when it was written during a stay; community,
    discharge and outpatient orders are meant to outlive the encounter."""
    categories = _coded_all(order.get("category"))
    if categories & TAKE_HOME:
        return None
    reference = _at(order, "encounter", "reference")
    encounter = encounters.get(reference.rsplit("/", 1)[-1]) if isinstance(reference, str) else None
    if encounter is None:
        return None
    klass = encounter.get("class")
    if "inpatient" not in categories and not (isinstance(klass, dict) and klass.get("code") in STAY_CLASSES):
        return None
    end = _day(_at(encounter, "period", "end"))
    if encounter.get("status") in ENDED_STATUSES or (end is not None and end < today):
        return True, end.isoformat() if end else "(date not given)"
    return False, ""


def _one_time(dosage: dict[str, Any]) -> bool:
    repeat = _at(dosage, "timing", "repeat")
    code = _at(dosage, "timing", "code")
    words = {str(v).strip().lower() for v in [concept_label(code), *(c.get("code") for c in (
        code.get("coding") or [] if isinstance(code, dict) else []) if isinstance(c, dict))] if v}
    count = repeat.get("count") if isinstance(repeat, dict) else None
    return count == 1 or bool(words & ONE_TIME_CODES)


def _first_bound(order: dict[str, Any], edge: str) -> Any:
    for dosage in order.get("dosageInstruction") or []:
        value = _at(dosage, "timing", "repeat", "boundsPeriod", edge)
        if value is not None:
            return value
    return None


def _stop(order: dict[str, Any]) -> date | None:
    """When the dosage says to stop: the first dosage's bounds end, or the day written plus its bounds duration
    (FHIR's bounds[x] is one of a Period or a Duration, so a dosage with a duration has no bounds start)."""
    start = _day(order.get("authoredOn"))
    for dosage in order.get("dosageInstruction") or []:
        end = _day(_at(dosage, "timing", "repeat", "boundsPeriod", "end"))
        if end is not None:
            return end
        days = _days(_at(dosage, "timing", "repeat", "boundsDuration"))
        if days is not None and start is not None:
            return start + timedelta(days=days)
    return None


def _repeats(order: dict[str, Any]) -> int:
    repeats = _at(order, "dispenseRequest", "numberOfRepeatsAllowed")
    return repeats if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats > 0 else 0


def _at(value: Any, *path: str) -> Any:
    """The element at `path`, or None where an element on the way is missing or not an object (odd shapes from a
    server must not fail the summary)."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _days(duration: Any) -> float | None:
    if not isinstance(duration, dict) or not isinstance(duration.get("value"), (int, float)) \
            or isinstance(duration.get("value"), bool):
        return None
    factor = UNIT_DAYS.get(str(duration.get("code") or duration.get("unit") or "").lower())
    return duration["value"] * factor if factor else None


def _day(value: Any) -> date | None:
    """The calendar day a FHIR date or dateTime names, as the record writes it (its own zone's day)."""
    try:
        return date.fromisoformat(str(value)[:10]) if isinstance(value, str) and len(value) >= 10 else None
    except ValueError:
        return None


def _coded(concept: Any) -> str | None:
    codes = _coded_all([concept])
    return next(iter(sorted(codes)), None)


def _coded_all(concepts: Any) -> set[str]:
    return {str(c.get("code")) for concept in concepts if isinstance(concept, dict)
            for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")} \
        if isinstance(concepts, list) else set()
