"""The population question bank: questions about a whole exported population (counts, latest value above a
threshold, condition and lab together, medications, encounters), each with its known answer from the raw NDJSON
(population_truth.py) and its oracle plan: the one SQL statement a well-behaved agent sends through
query_population after reading describe_population_data.

Questions are drawn from the data: the most common conditions, tests, drugs and vaccines of the export, and
thresholds at the median of the patients' latest values, so every data set gets questions with answers that are
neither zero nor everyone. Tests whose latest value is not one value for some patient (two results at the same
newest time) are not asked about.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import population_truth as truth
from .population_truth import Export

NOT_A_RESULT_SQL = "status NOT IN ('entered-in-error', 'cancelled')"
ORDER_INTENTS_SQL = "('order', 'original-order', 'reflex-order', 'filler-order', 'instance-order')"
ANSWER_FORMS = {
    "count": "Answer with one number.",
    "mapping": "Answer with one row per group: the group, then the number.",
    "ids": "Answer with the patients' ids, one per row.",
    "number": "Answer with one number.",
}


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    data_set: str
    text: str
    form: str
    expected: Any
    plan: str


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    make: Callable[[Export, str], Iterator[Question]]


def ask(kind: str, data_set: str, key: str, text: str, form: str, expected: Any, plan: str) -> Question:
    return Question(id=f"{data_set}/{kind}/{key}", kind=kind, data_set=data_set,
                    text=f"{text} {ANSWER_FORMS[form]}", form=form, expected=expected, plan=" ".join(plan.split()))


def threshold(values: list[float]) -> float:
    """The median of the distinct values: some patients above it, some not."""
    return float(statistics.median_low(sorted(set(values))))


def latest_sql(loinc: str) -> str:
    return (f"SELECT patient_id, arg_max(value, effective::TIMESTAMPTZ) AS latest FROM observation "
            f"WHERE list_contains(loinc, '{loinc}') AND value IS NOT NULL AND effective IS NOT NULL "
            f"AND patient_id IS NOT NULL AND {NOT_A_RESULT_SQL} GROUP BY patient_id")


def active_condition_sql(prefix: str) -> str:
    return ("SELECT DISTINCT patient_id FROM condition WHERE clinical_status IN ('active', 'recurrence', 'relapse') "
            "AND coalesce(verification_status, '') NOT IN ('refuted', 'entered-in-error') AND id IN "
            "(SELECT condition_id FROM condition_coding WHERE element = 'code' AND system_name = 'icd10' "
            f"AND code LIKE '{prefix}%')")


def top_lab_codes(export: Export, limit: int) -> list[str]:
    """The LOINC codes of laboratory results most patients have (ties by code), skipping ambiguous latests."""
    patients: Counter[str] = Counter()
    for observation in export.of("Observation"):
        who = truth.owner(observation)
        if truth.is_lab(observation) and truth.number(observation) is not None and who:
            for code in truth.codes_in(observation.get("code"), truth.LOINC):
                patients[f"{code}\0{who}"] += 1
    by_code = Counter(key.split("\0")[0] for key in patients)
    ranked = sorted(by_code, key=lambda code: (-by_code[code], code))
    return [code for code in ranked if by_code[code] >= 2 and not truth.tied(truth.results(export, code))][:limit]


def active_prefixes(export: Export, limit: int) -> list[str]:
    """The ICD-10 categories (first three characters) most patients have an active condition of."""
    prefixes = {code[:3] for condition in export.of("Condition")
                for code in truth.codes_in(condition.get("code"), truth.ICD10)}
    counted = {prefix: len(truth.active_condition_patients(export, prefix)) for prefix in prefixes}
    return [p for p in sorted(counted, key=lambda p: (-counted[p], p)) if counted[p] > 0][:limit]


# Kinds --------------------------------------------------------------------------------------------------------

def demographics(export: Export, data_set: str) -> Iterator[Question]:
    patients = export.of("Patient")
    yield ask("patients", data_set, "total", "How many patients are in the population?", "count", len(patients),
              "SELECT count(*) FROM patient")
    yield ask("patients", data_set, "by-country", "How many patients live in each country?", "mapping",
              dict(Counter(truth.country(p) for p in patients)),
              "SELECT country, count(*) FROM patient GROUP BY country")
    yield ask("patients", data_set, "by-sex", "How many patients are there of each administrative sex (gender)?",
              "mapping", dict(Counter(p.get("gender") for p in patients)),
              "SELECT gender, count(*) FROM patient GROUP BY gender")
    yield ask("patients", data_set, "by-language", "How many patients prefer each language (BCP 47 code)?",
              "mapping", dict(Counter(truth.language(p) for p in patients)),
              "SELECT language, count(*) FROM patient GROUP BY language")
    older = [p for p in patients if not truth.is_deceased(p) and (truth.age(p, export.as_of) or 0) >= 65]
    yield ask("patients", data_set, "65-and-over", f"How many living patients are 65 or older on "
              f"{export.as_of.isoformat()}?", "count", len(older),
              "SELECT count(*) FROM patient WHERE NOT deceased AND age >= 65")
    yield ask("patients", data_set, "deceased", "How many patients are deceased?", "count",
              sum(truth.is_deceased(p) for p in patients), "SELECT count(*) FROM patient WHERE deceased")


def conditions(export: Export, data_set: str) -> Iterator[Question]:
    for prefix in active_prefixes(export, 3):
        yield ask("condition", data_set, prefix, f"How many patients have an active condition coded ICD-10 "
                  f"{prefix} (any code starting {prefix})?", "count",
                  len(truth.active_condition_patients(export, prefix)),
                  f"SELECT count(*) FROM ({active_condition_sql(prefix)})")


def latest_above(export: Export, data_set: str) -> Iterator[Question]:
    codes = top_lab_codes(export, 3)
    for code in codes:
        latest = truth.latest(truth.results(export, code))
        limit = threshold(list(latest.values()))
        yield ask("latest_above", data_set, code, f"How many patients' latest result of LOINC {code} is above "
                  f"{limit:g}?", "count", sum(value > limit for value in latest.values()),
                  f"SELECT count(*) FROM ({latest_sql(code)}) WHERE latest > {limit:g}")
    for code in codes[:1]:
        latest = truth.latest(truth.results(export, code))
        limit = threshold(list(latest.values()))
        yield ask("latest_above", data_set, f"who-{code}", f"Which patients' latest result of LOINC {code} is above "
                  f"{limit:g}?", "ids", sorted(who for who, value in latest.items() if value > limit),
                  f"SELECT patient_id FROM ({latest_sql(code)}) WHERE latest > {limit:g} ORDER BY patient_id")


def systolic(export: Export, data_set: str) -> Iterator[Question]:
    values = truth.component_results(export, "8480-6")
    if not values or truth.tied(values):
        return
    latest = truth.latest(values)
    plan = f"""WITH systolic AS (
        SELECT patient_id, effective, value FROM observation WHERE list_contains(loinc, '8480-6')
          AND value IS NOT NULL AND {NOT_A_RESULT_SQL}
        UNION ALL
        SELECT c.patient_id, c.effective, c.value FROM observation_component c JOIN observation o
          ON o.id = c.observation_id WHERE list_contains(c.loinc, '8480-6') AND c.value IS NOT NULL
          AND o.{NOT_A_RESULT_SQL})
      SELECT count(*) FROM (SELECT patient_id, arg_max(value, effective::TIMESTAMPTZ) AS latest FROM systolic
        WHERE effective IS NOT NULL AND patient_id IS NOT NULL GROUP BY patient_id) WHERE latest > 130"""
    yield ask("systolic_above", data_set, "130", "How many patients' latest systolic blood pressure (LOINC 8480-6, "
              "alone or in a blood pressure panel) is above 130 mmHg?", "count",
              sum(value > 130 for value in latest.values()), plan)


def labs_per_patient(export: Export, data_set: str) -> Iterator[Question]:
    counted = Counter(truth.owner(o) for o in export.of("Observation") if truth.is_lab(o) and truth.owner(o))
    yield ask("labs_per_patient", data_set, "all", "How many laboratory results does each patient have?",
              "mapping", dict(counted),
              "SELECT patient_id, count(*) FROM observation WHERE category = 'laboratory' GROUP BY patient_id")


def condition_and_lab(export: Export, data_set: str) -> Iterator[Question]:
    """The most common active condition with the lab most of its patients have."""
    for prefix in active_prefixes(export, 1):
        sick = truth.active_condition_patients(export, prefix)
        best: tuple[int, str] | None = None
        for code in top_lab_codes(export, 10):
            overlap = len(sick & set(truth.latest(truth.results(export, code))))
            if overlap >= 2 and (best is None or overlap > best[0]):
                best = (overlap, code)
        if best is None:
            continue
        code = best[1]
        latest = {who: v for who, v in truth.latest(truth.results(export, code)).items() if who in sick}
        limit = threshold(list(latest.values()))
        yield ask("condition_and_lab", data_set, f"{prefix}-{code}", f"How many patients with an active ICD-10 "
                  f"{prefix} condition have a latest LOINC {code} result above {limit:g}?", "count",
                  sum(v > limit for v in latest.values()),
                  f"SELECT count(*) FROM ({latest_sql(code)}) l JOIN ({active_condition_sql(prefix)}) c "
                  f"USING (patient_id) WHERE l.latest > {limit:g}")


def medications(export: Export, data_set: str) -> Iterator[Question]:
    orders = export.of("MedicationRequest")
    active = [o for o in orders if truth.is_active_order(o)]
    by_drug = Counter(drug for drug, _ in {(c, truth.owner(o)) for o in active
                                           for c in truth.drug_codes(export, o, truth.RXNORM)})
    for code in sorted(by_drug, key=lambda c: (-by_drug[c], c))[:2]:
        patients = {truth.owner(o) for o in active if code in truth.drug_codes(export, o, truth.RXNORM)}
        yield ask("medication", data_set, code, f"How many patients have an active medication order for RxNorm "
                  f"{code}?", "count", len(patients),
                  "SELECT count(DISTINCT r.patient_id) FROM medication_request r LEFT JOIN medication m "
                  f"ON m.id = r.medication_id WHERE r.status = 'active' AND r.intent IN {ORDER_INTENTS_SQL} "
                  f"AND (list_contains(r.rxnorm, '{code}') OR list_contains(m.rxnorm, '{code}'))")
    yield ask("medication", data_set, "any-active", "How many patients have at least one active medication order?",
              "count", len({truth.owner(o) for o in active if truth.owner(o)}),
              "SELECT count(DISTINCT patient_id) FROM medication_request WHERE status = 'active' "
              f"AND intent IN {ORDER_INTENTS_SQL}")
    by_yj = Counter(c for o in orders for c in truth.drug_codes(export, o, truth.YJ))
    for code in sorted(by_yj, key=lambda c: (-by_yj[c], c))[:1]:
        patients = {truth.owner(o) for o in orders if code in truth.drug_codes(export, o, truth.YJ)}
        yield ask("medication", data_set, f"yj-{code}", f"How many patients were ever ordered the drug with YJ "
                  f"code {code}?", "count", len(patients),
                  "SELECT count(DISTINCT patient_id) FROM medication_request_coding WHERE system_name = 'yj' "
                  f"AND code = '{code}'")


def encounters(export: Export, data_set: str) -> Iterator[Question]:
    first, last = (export.as_of - timedelta(days=365)).isoformat(), export.as_of.isoformat()
    recent = [e for e in export.of("Encounter") if (day := truth.start_day(e)) and first <= day <= last]
    yield ask("encounters", data_set, "by-class", f"How many encounters of each class began from {first} to "
              f"{last} (both included)?", "mapping", dict(Counter(truth.encounter_class(e) for e in recent)),
              f"SELECT class_code, count(*) FROM encounter WHERE left(period_start, 10) BETWEEN '{first}' AND "
              f"'{last}' GROUP BY class_code")
    inpatient = [e for e in export.of("Encounter") if truth.encounter_class(e) == "IMP"]
    yield ask("encounters", data_set, "inpatient-patients", "How many patients had an inpatient encounter (class "
              "IMP)?", "count", len({truth.owner(e) for e in inpatient if truth.owner(e)}),
              "SELECT count(DISTINCT patient_id) FROM encounter WHERE class_code = 'IMP'")
    stays = [days for e in inpatient if (days := truth.stay_days(e)) is not None]
    if stays:
        yield ask("encounters", data_set, "inpatient-stay", "What is the average length in days (end day minus "
                  "start day) of the inpatient encounters (class IMP) that have ended? Round to 2 decimals.",
                  "number", round(sum(stays) / len(stays), 2),
                  "SELECT round(avg(date_diff('day', left(period_start, 10)::DATE, left(period_end, 10)::DATE)), 2) "
                  "FROM encounter WHERE class_code = 'IMP' AND period_end IS NOT NULL")


def vaccines_and_allergies(export: Export, data_set: str) -> Iterator[Question]:
    counted = Counter(code for i in export.of("Immunization") if i.get("status") == "completed"
                      for code in truth.codes_in(i.get("vaccineCode"), truth.CVX))
    for code in sorted(counted, key=lambda c: (-counted[c], c))[:2]:
        yield ask("vaccine_allergy", data_set, code, f"How many patients received a vaccine with CVX code {code} "
                  "(completed immunizations)?", "count", len(truth.completed_vaccine_patients(export, code)),
                  "SELECT count(DISTINCT patient_id) FROM immunization WHERE status = 'completed' "
                  f"AND list_contains(cvx, '{code}')")
    yield ask("vaccine_allergy", data_set, "allergy-high", "How many patients have an active allergy of high "
              "criticality?", "count", len(truth.active_allergy_patients(export, "high")),
              "SELECT count(DISTINCT patient_id) FROM allergy WHERE clinical_status = 'active' "
              "AND criticality = 'high'")


def jlac10(export: Export, data_set: str) -> Iterator[Question]:
    """Japanese lab codes, listed before LOINC in JP Core records: found through the coding table."""
    patients: dict[str, set[str]] = {}
    for observation in export.of("Observation"):
        for code in truth.codes_in(observation.get("code"), truth.JLAC10):
            if who := truth.owner(observation):
                patients.setdefault(code, set()).add(who)
    for code in sorted(patients, key=lambda c: (-len(patients[c]), c))[:1]:
        yield ask("jlac10", data_set, code, f"How many patients have a result coded JLAC10 {code}?", "count",
                  len(patients[code]), "SELECT count(DISTINCT patient_id) FROM observation_coding WHERE "
                  f"element = 'code' AND system_name = 'jlac10' AND code = '{code}'")


KINDS = (
    Kind("patients", "Patients: count, country, sex, language, age, deceased", demographics),
    Kind("condition", "Patients with an active condition (ICD-10 prefix)", conditions),
    Kind("latest_above", "Latest lab value above a threshold (how many, and who)", latest_above),
    Kind("systolic_above", "Latest systolic blood pressure above 130 (components too)", systolic),
    Kind("labs_per_patient", "Laboratory results per patient", labs_per_patient),
    Kind("condition_and_lab", "Condition and lab together", condition_and_lab),
    Kind("medication", "Active medication orders (RxNorm, referenced Medications, YJ codes)", medications),
    Kind("encounters", "Encounters: by class, inpatients, length of stay", encounters),
    Kind("vaccine_allergy", "Vaccines given, allergies of high criticality", vaccines_and_allergies),
    Kind("jlac10", "Results by a JLAC10 code", jlac10),
)
TITLES = {kind.name: kind.title for kind in KINDS}


def question_bank(export: Export, data_set: str) -> list[Question]:
    return [question for kind in KINDS for question in kind.make(export, data_set)]
