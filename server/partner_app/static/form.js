// The check-in form, drawn from the exercise's form definition.

import { h } from "./dom.js";
import { t } from "./strings.js";

let counter = 0;
// Scales wider than this are typed as a number.
const MAX_BUTTONS = 10;
const uid = (key) => `q-${key}-${++counter}`;

function field(question, control, describedBy) {
  const errorId = `err-${question.key}`;
  return h(
    "fieldset",
    { class: "question", "data-key": question.key, "aria-describedby": `${describedBy || ""} ${errorId}`.trim() },
    h("legend", {}, question.label, question.required ? h("span", { class: "req", "aria-hidden": "true" }, ` ${t("required")}`) : null),
    control,
    h("p", { class: "error", id: errorId, hidden: true }),
  );
}

function radios(question, options, extraClass = "") {
  return h(
    "div",
    { class: `options ${extraClass}` },
    options.map(([value, label]) => {
      const id = uid(question.key);
      return h(
        "label",
        { class: "option", for: id },
        h("input", { type: "radio", id, name: question.key, value: JSON.stringify(value), required: question.required }),
        h("span", {}, label),
      );
    }),
  );
}

export function renderQuestion(question) {
  if (question.type === "scale" && question.max - question.min > MAX_BUTTONS) {
    // A wide scale (minutes, say) is a number to type, not a hundred buttons.
    const id = uid(question.key);
    const anchorsId = `${id}-anchors`;
    const anchors = h("p", { class: "anchors", id: anchorsId }, h("span", {}, `${question.min} = ${question.min_label || ""}`), h("span", {}, `${question.max} = ${question.max_label || ""}`));
    const control = h("input", {
      type: "number",
      id,
      name: question.key,
      min: question.min,
      max: question.max,
      step: 1,
      inputmode: "numeric",
      class: "number",
      "aria-label": question.label,
      "aria-describedby": anchorsId,
    });
    return field(question, [anchors, control], anchorsId);
  }
  if (question.type === "scale") {
    const values = [];
    for (let v = question.min; v <= question.max; v++) values.push([v, String(v)]);
    const anchorsId = uid(`${question.key}-anchors`);
    const anchors = h(
      "p",
      { class: "anchors", id: anchorsId },
      h("span", {}, `${question.min} = ${question.min_label || ""}`),
      h("span", {}, `${question.max} = ${question.max_label || ""}`),
    );
    return field(question, [anchors, radios(question, values, "scale")], anchorsId);
  }
  if (question.type === "boolean") {
    return field(question, radios(question, [[true, t("yes")], [false, t("no")]], "yesno"));
  }
  if (question.type === "choice" && question.multiple) {
    const boxes = question.options.map((option) => {
      const id = uid(question.key);
      return h(
        "label",
        { class: "option", for: id },
        h("input", { type: "checkbox", id, name: question.key, value: JSON.stringify(option) }),
        h("span", {}, option),
      );
    });
    return field(question, h("div", { class: "options" }, boxes));
  }
  if (question.type === "choice") {
    return field(question, radios(question, question.options.map((o) => [o, o])));
  }
  const id = uid(question.key);
  const control = h("textarea", {
    id,
    name: question.key,
    rows: 3,
    maxlength: question.max_length || 5000,
    autocomplete: "off",
    "aria-label": question.label,
  });
  return field(question, control);
}

// A questionnaire item: its exact wording and published options (values are scores).
export function renderItem(item) {
  return field(item, radios(item, item.options.map((o) => [o.value, o.label]), "measure"));
}

export function readAnswers(form, questions) {
  const answers = {};
  for (const question of questions) {
    const inputs = [...form.querySelectorAll(`[name="${CSS.escape(question.key)}"]`)];
    if (question.type === "text") {
      const value = inputs[0]?.value.trim();
      if (value) answers[question.key] = value;
    } else if (inputs[0]?.type === "number") {
      const value = inputs[0].value.trim();
      // Sent as typed: the server names a value out of range or not whole.
      if (value) answers[question.key] = Number(value);
    } else if (question.type === "choice" && question.multiple) {
      const chosen = inputs.filter((i) => i.checked).map((i) => JSON.parse(i.value));
      if (chosen.length) answers[question.key] = chosen;
    } else {
      const chosen = inputs.find((i) => i.checked);
      if (chosen) answers[question.key] = JSON.parse(chosen.value);
    }
  }
  return answers;
}

// Required answers missing (a declined session needs nothing else).
export function missingAnswers(questions, answers) {
  if (answers.session_declined === true) return [];
  return questions.filter((q) => q.required && !(q.key in answers)).map((q) => q.key);
}

// Whether the answers raise a safety flag, as the server will decide (for offline use).
export function raisesFlag(questions, answers) {
  return questions.some((q) => {
    if (!q.flag || !(q.key in answers)) return false;
    if (q.type === "boolean") return answers[q.key] === true;
    if (q.type === "scale") return q.flag_at !== null && q.flag_at !== undefined && answers[q.key] >= q.flag_at;
    return false;
  });
}

// Show field errors: `errors` maps "answers.key" (or a field name) to messages.
export function showErrors(form, errors) {
  for (const node of form.querySelectorAll(".error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  let first = null;
  const general = [];
  for (const [name, messages] of Object.entries(errors || {})) {
    const key = name.replace(/^answers\./, "");
    const target = form.querySelector(`#err-${CSS.escape(key)}`);
    const text = [].concat(messages).join(" ");
    if (target) {
      target.textContent = text;
      target.hidden = false;
      target.closest("fieldset, .field")?.setAttribute("aria-invalid", "true");
      first = first || target;
    } else {
      general.push(text);
    }
  }
  return { first, general };
}
