// A small, offline reader of /openapi.json: every endpoint with its summary, description, parameters and body.
"use strict";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function schemaText(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(schemaText).join(" | ");
  if (schema.type === "array") return `${schemaText(schema.items)}[]`;
  if (schema.type === "object" && schema.properties) {
    return Object.entries(schema.properties).map(([k, v]) => `${k}: ${v.format === "binary" ? "file" : v.type || schemaText(v)}${v.description ? ` (${v.description})` : ""}`).join("; ");
  }
  return schema.type || "";
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("api-docs");
  root.replaceChildren(el("p", {}, spec.info.description || ""));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const card = el("section", { class: "card", id: op.operationId || `${method}-${path}` });
      card.append(el("h2", {}, el("code", {}, `${method.toUpperCase()} ${path}`), " — ", op.summary || ""));
      if (op.description) card.append(el("p", {}, op.description));
      const params = op.parameters || [];
      if (params.length) {
        const list = el("ul");
        for (const p of params) list.append(el("li", {}, el("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}) ${schemaText(p.schema)}`));
        card.append(el("p", { class: "small" }, "Parameters:"), list);
      }
      const body = op.requestBody && op.requestBody.content;
      if (body) {
        for (const [type, content] of Object.entries(body)) card.append(el("p", { class: "small" }, `Body (${type}): ${schemaText(content.schema)}`));
      }
      const codes = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description || ""}`);
      card.append(el("p", { class: "small" }, `Responses: ${codes.join(" · ")}`));
      root.append(card);
    }
  }
}

main().catch((e) => { document.getElementById("api-docs").textContent = `Could not read /openapi.json: ${e.message}`; });
