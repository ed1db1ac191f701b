// The chart summary view: patient_summary (PatientSummary) as a card. An answer of the medications section alone
// is drawn as the medications view (medications.js), opening on the timeline.

function quantityText(value) {
  if (value === undefined || value === null) return "";
  if (typeof value !== "object") return withoutCodes(value);
  if (value.value !== undefined) return `${value.value}${value.unit ? ` ${value.unit}` : ""}`;
  return withoutCodes(Object.values(value).join(" "));
}

function observationFlag(record) {
  return flagOf(record.flag) || flagOf([].concat(record.interpretation || [])[0]);
}

function observationRow(record) {
  const parts = Array.isArray(record.components)
    ? record.components.map((c) => ({ name: shortName(c.code), text: quantityText(c.value),
      flag: flagOf([].concat(c.interpretation || [])[0]) }))
    : [{ name: null, text: quantityText(record.value !== undefined ? record.value : record.data_absent),
      flag: observationFlag(record) }];
  const when = record.effective || record.issued || "";
  return el("tr", { "data-id": record.id },
    el("th", { scope: "row", title: String(record.code || "") }, shortName(record.code)),
    el("td", { class: "value" }, parts.map((p) => el("div", {},
      p.name ? `${p.name.replace(/ blood pressure$/i, "")}: ` : "",
      el("span", { class: "num" }, p.text), p.flag ? [" ", flagBadge(p.flag)] : null))),
    el("td", { class: "when", title: whenText(when) }, String(when).slice(0, 10)));
}

function sectionBlock(section, body) {
  const count = section.items.length;
  return el("section", { class: `card-section section-${section.name}`, "aria-label": section.title },
    el("h2", {}, section.title.split(" (")[0], el("span", { class: "count" }, ` ${count}`)),
    notesList(section.notes), count ? body : el("p", { class: "none" }, "None on file."));
}

function problemsBlock(section) {
  return sectionBlock(section, el("ul", { class: "plain" }, section.items.map((p) => el("li", { "data-id": p.id },
    el("span", { class: "name" }, String(p.code || "?")),
    [p.onset ? `since ${p.onset}` : null, p.severity,
      ...(p.stage || []).map((s) => (/^stage\b/i.test(s) ? s : `stage ${s}`))]
      .filter(Boolean).map((part) => el("span", { class: "detail" }, ` · ${part}`))))));
}

// Free text from the record (a description, a comment) arrives marked {patient_text: ...}: shown as text.
function untrustedText(value) {
  if (!value || typeof value !== "object") return String(value);
  return String(value.patient_text !== undefined ? value.patient_text : Object.values(value).join(" "));
}

function reactionText(reaction) {
  if (!reaction || typeof reaction !== "object") return String(reaction);
  return [[].concat(reaction.manifestations || []).map(shortName).join(", "), reaction.severity,
    reaction.description ? untrustedText(reaction.description) : null].filter(Boolean).join(" · ");
}

function allergyCriticality(record) {
  const criticality = String(record.criticality || "");
  if (!criticality) return null;
  return el("span", { class: `badge criticality criticality-${criticality.replace(/\W+/g, "-")}` },
    criticality === "high" ? "⚠ high criticality" : `${criticality} criticality`);
}

function allergiesBlock(section) {
  return sectionBlock(section, el("ul", { class: "plain" }, section.items.map((a) => el("li", { "data-id": a.id },
    el("span", { class: "name" }, shortName(a.code) || "?"), " ", allergyCriticality(a),
    [].concat(a.clinical_status || []).filter((s) => s !== "active")
      .map((s) => el("span", { class: "detail" }, ` · ${s}`)),
    [].concat(a.reactions || []).map((r) => el("div", { class: "detail" }, reactionText(r)))))));
}

function observationsBlock(section) {
  return sectionBlock(section, el("table", { class: "obs" }, el("tbody", {}, section.items.map(observationRow))));
}

function appointmentBlock(section) {
  const next = section.items[0];
  const body = next && el("div", { class: "appointment", "data-id": next.id },
    el("div", { class: "name" }, next.start ? whenText(next.start) : "time not given"),
    el("div", {}, [].concat(next.service_type || next.type || []).map(shortName).join(", ")),
    next.description ? el("div", { class: "detail" }, untrustedText(next.description)) : null,
    section.items.length > 1 ? el("div", { class: "detail" }, `and ${section.items.length - 1} more upcoming`) : null);
  return sectionBlock({ ...section, title: "Next appointment" }, body);
}

// The patient as the text answer gives them: a whole summary names the patient's id, a summary of chosen
// sections names the patient only (the caller holds the id).
function patientLine(data, chosen) {
  const patient = data.patient || {};
  const facts = [patient.gender, patient.birth_date ? `born ${patient.birth_date}` : null,
    patient.age !== undefined && patient.age !== null ? `age ${patient.age}` : null,
    patient.deceased ? (patient.deceased === true ? "deceased" : `deceased ${patient.deceased}`) : null]
    .filter(Boolean);
  const id = `Patient/${data.patient_id}`;
  const named = patient.name ? String(patient.name) : chosen && facts.length ? "Patient" : id;
  return el("header", { class: "patient" }, el("h1", {}, named),
    el("p", { class: "sub" }, [...facts, chosen ? null : id].filter(Boolean).join(" · ")));
}

const CARD_SECTIONS = {
  problems: problemsBlock,
  allergies: allergiesBlock,
  vital_signs: observationsBlock,
  labs: observationsBlock,
  appointments: appointmentBlock,
};

function otherSections(sections) {
  if (!sections.length) return null;
  return el("p", { class: "note others" }, "Also in the answer: ",
    sections.map((s) => `${s.title.split(" (")[0].toLowerCase()} ${s.items.length}`).join(", "), ".");
}

function medicationsBlock(section, width, first) {
  return el("section", { class: "card-section section-medications", "aria-label": section.title },
    el("h2", {}, "Medications", el("span", { class: "count" }, ` ${section.items.length} current`),
      section.set_apart.length
        ? el("span", { class: "count stale-count" }, ` · ${section.set_apart.length} likely stale`) : null),
    notesList(section.notes), medicationPanes(section, width - 28, first));
}

function summaryCard(data, _, input) {
  const chosen = Array.isArray(input.sections) && input.sections.length > 0;
  const sections = data.sections || [];
  const byName = Object.fromEntries(sections.map((s) => [s.name, s]));
  const width = viewWidth();
  const unavailable = (data.unavailable || []).length
    ? el("section", { class: "card-section unavailable" }, el("h2", {}, "Not available"), notesList(data.unavailable))
    : null;
  if (sections.length === 1 && byName.medications) {
    return [patientLine(data, chosen), medicationsBlock(byName.medications, width, "Timeline"), unavailable];
  }
  const block = (name) => byName[name] ? CARD_SECTIONS[name](byName[name]) : null;
  const row = (...blocks) => blocks.some(Boolean) ? el("div", { class: "card-row" }, blocks.filter(Boolean)) : null;
  const side = [block("allergies"), block("appointments")].filter(Boolean);
  const shown = ["problems", "medications", "allergies", "vital_signs", "labs", "appointments"];
  return [patientLine(data, chosen),
    row(block("problems"), side.length ? el("div", { class: "card-column" }, side) : null),
    byName.medications ? medicationsBlock(byName.medications, width, "List") : null,
    row(block("vital_signs"), block("labs")),
    otherSections(sections.filter((s) => !shown.includes(s.name))), unavailable];
}

App.start("summary", summaryCard);
