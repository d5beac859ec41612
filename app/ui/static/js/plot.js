// Observable Plot, made CSP-safe: Plot adds <style> elements to each chart; they are removed
// before the chart enters the document (an inline style would be refused by the page's CSP)
// and app.css carries the same rules for the class every chart gets.
export const PLOT_CLASS = "cc-plot";

export function render(options) {
  const el = Plot.plot({ className: PLOT_CLASS, ...options });
  for (const style of el.querySelectorAll("style")) style.remove();
  // Plot names its marks with aria-label; a label needs a role to be announced (and to be valid ARIA)
  for (const labelled of el.querySelectorAll("[aria-label]:not([role])")) {
    if (labelled === el) continue;
    labelled.setAttribute("role", labelled.tagName.toLowerCase() === "g" ? "group" : "img");
  }
  return el;
}

export const OUTCOME_COLOURS = {
  domain: ["clear", "exception", "license_required", "undetermined"],
  range: ["#1a7f37", "#b35900", "#c5221f", "#6e7781"],
};
