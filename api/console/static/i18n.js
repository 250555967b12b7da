// Messages in es, en, pt and fr: one small JSON catalogue per language (messages/*.json),
// keyed by the English text (en.json names only what differs from its key); a message
// missing from a catalogue shows in English.

export const LANGUAGES = ["es", "en", "pt", "fr"];
let messages = {};
export let language = "en";

export function chooseLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  const kept = localStorage.getItem("trazo-lang");
  for (const candidate of [asked, kept, ...(navigator.languages || [])]) {
    const code = (candidate || "").slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(code)) return code;
  }
  return "en";
}

export async function loadLanguage(code) {
  language = LANGUAGES.includes(code) ? code : "en";
  const response = await fetch(`/console/messages/${language}.json`);
  messages = response.ok ? await response.json() : {};
  document.documentElement.lang = language;
  localStorage.setItem("trazo-lang", language);
}

/** The message in the current language, with {name} placeholders filled. */
export function t(text, values = {}) {
  const found = messages[text] || text;
  return found.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}
