// The "check it yourself" button of a lot's public page: fetch the proof bundle from where
// the page says it is (the same folder or server), check it with verify.js, show each step.
// The page reads well without this script: the button stays hidden and the command-line
// check is described beside it.
//
// Contract for tests: the button carries `data-verify`; the result element gets
// data-verify-result="ok" or "failed" when the check ends.

import { NOT_CHECKED, parseStrict, verifyBundle } from "./verify.js";

const box = document.getElementById("verify-box");
const button = document.querySelector("[data-verify]");
const steps = document.getElementById("verify-steps");
const result = document.getElementById("verify-result");
const words = JSON.parse(document.getElementById("verify-text").textContent);

function item(className, text) {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  return li;
}

function shortId(id) {
  return id && id.startsWith("sha256:") ? `${id.slice(0, 19)}…` : id;
}

async function check(bundleText) {
  steps.replaceChildren();
  result.removeAttribute("data-verify-result");
  result.textContent = words.running;
  // read as strictly as `trazo verify` reads it: a key held twice, a float or an integer
  // beyond 2^53 could show two readers two different bundles
  let bundle;
  let unreadable = null;
  try {
    bundle = parseStrict(bundleText);
  } catch (e) {
    bundle = null;
    unreadable = `bundle.json does not parse: ${e.message}`;
  }
  const witnesses = (box.dataset.witnesses || "").split(" ").filter(Boolean);
  const report = await verifyBundle(
    bundle,
    {
      logKey: box.dataset.logKey,
      witnesses,
      tablesDigest: box.dataset.tables,
      claim: box.dataset.claim,
    },
    (step) => {
      const label = words.steps[step.check] || step.check;
      const li = item(step.ok ? "pass" : "fail", `${step.ok ? "✓" : "✗"} ${label}`);
      if (step.check === "witnesses" && step.ok) li.textContent += ` (${witnesses.length})`;
      steps.append(li);
    },
  );
  if (unreadable) report.findings.unshift({ check: "format", message: unreadable, event: null });
  result.replaceChildren();
  const lead = document.createElement("p");
  lead.className = "outcome";
  lead.textContent = report.ok ? words.ok : words.failed;
  result.append(lead);
  if (!report.ok) {
    const list = document.createElement("ul");
    for (const f of report.findings.slice(0, 20)) {
      const what = f.event ? `${shortId(f.event)}: ` : "";
      const message = f.message.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, "sha256:$1…");
      const li = item("finding", `[${f.check}] ${what}${message}`);
      if (f.event) li.dataset.event = f.event;
      list.append(li);
    }
    if (report.findings.length > 20) list.append(item("finding", `… ${report.findings.length - 20}`));
    result.append(list);
  }
  if (report.unknownTypes.length) {
    result.append(item("note", `${words.unknown} ${report.unknownTypes.join(", ")}`));
  }
  const limits = document.createElement("p");
  limits.className = "note";
  limits.textContent = `${words.limits} ${(words.not_checked || NOT_CHECKED).join("; ")}.`;
  result.append(limits);
  result.dataset.verifyResult = report.ok ? "ok" : "failed";
}

function pickFile() {
  const label = document.createElement("label");
  label.textContent = words.fetch + " ";
  const input = document.createElement("input");
  input.type = "file";
  input.accept = ".json,application/json";
  input.addEventListener("change", async () => {
    if (input.files && input.files[0]) await check(await input.files[0].text());
  });
  label.append(input);
  result.replaceChildren(label);
}

if (box && button) {
  box.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      let text;
      try {
        const response = await fetch(box.dataset.bundle, { credentials: "omit" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        text = await response.text();
      } catch (e) {
        pickFile();
        return;
      }
      await check(text);
    } catch (e) {
      result.textContent = `${words.failed} ${e.message}`;
      result.dataset.verifyResult = "failed";
    } finally {
      button.disabled = false;
    }
  });
}
