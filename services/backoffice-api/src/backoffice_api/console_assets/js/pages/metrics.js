// Metrics: GET /v1/metrics per 5m / 15m / 1h bucket, one bar chart per counter, and the conversion rates.
import { api, query } from "../api.js";
import { barChart } from "../chart.js";
import { h } from "../dom.js";
import { lang, t } from "../i18n.js";

const SERIES = [["leads_created", "leads"], ["leads_qualified", "qualified"], ["contracts_created", "contractsSent"], ["contracts_signed", "signed"]];
const SPAN_HOURS = { "5m": 2, "15m": 6, "1h": 24 };

export async function render(main, params, ctx) {
  const charts = h("div", { class: "cards" });
  const rates = h("p", { id: "rates" });
  const bucket = h("select", { id: "bucket" }, Object.keys(SPAN_HOURS).map((b) => h("option", { value: b }, b)));
  bucket.value = "1h";
  bucket.addEventListener("change", () => draw());
  main.append(h("h1", {}, t("metrics")), h("div", { class: "toolbar" }, h("label", { for: "bucket" }, t("bucket"), bucket)), rates, charts);

  async function draw() {
    const to = new Date();
    const from = new Date(to - SPAN_HOURS[bucket.value] * 3600e3);
    const report = await api(`/v1/metrics${query({ bucket: bucket.value, from: from.toISOString(), to: to.toISOString() })}`, { signal: ctx.signal });
    const label = (start) => new Date(start).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    charts.replaceChildren(...SERIES.map(([field, name]) => h("section", { class: "card" },
      h("h2", {}, `${t(name)}: ${report.totals[field]}`),
      barChart(t(name), report.series.map((b) => ({ label: label(b.start), value: b[field] }))))));
    const pct = (v) => (v === null ? "—" : `${(v * 100).toFixed(1)}%`);
    rates.textContent = `${t("conversion")}: ${t("qualified")} ${pct(report.rates.qualification)} · ${t("contractsSent")} ${pct(report.rates.contract)} · ${t("signed")} ${pct(report.rates.signature)}`;
  }
  await draw();
}
