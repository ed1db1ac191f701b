"use strict";
// The view side of MCP Apps (SEP-1865, specification 2026-01-26): JSON-RPC 2.0 over postMessage with the host.
// The view asks for nothing but the handshake: the host sends the tool's input and result, the view draws the
// result. It never calls a tool, reads a resource or opens a link, so it holds only what the answer holds.

const App = (() => {
  const PROTOCOL_VERSION = "2026-01-26";
  const VERSION = document.querySelector("meta[name=generator]").content.split(" ")[1];
  const pending = new Map();
  const listeners = {};
  let nextId = 1;

  function post(message) {
    window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  }

  function request(method, params) {
    const id = nextId++;
    post({ id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function notify(method, params) {
    post({ method, params });
  }

  // Requests a host may send a view: teardown (answered at once, the view keeps no state) and ping.
  const ANSWERED = new Set(["ui/resource-teardown", "ping"]);

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method === undefined) {
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      if (message.error) waiting.reject(new Error(message.error.message || "request failed"));
      else waiting.resolve(message.result || {});
    } else if (message.id !== undefined) {
      if (ANSWERED.has(message.method)) post({ id: message.id, result: {} });
      else post({ id: message.id, error: { code: -32601, message: `${message.method} is not handled by this view` } });
    } else if (listeners[message.method]) {
      listeners[message.method](message.params || {});
    }
  });

  // Host theming: the standard CSS variables, and light or dark.
  function applyContext(context) {
    const root = document.documentElement;
    if (context.theme === "dark" || context.theme === "light") root.dataset.theme = context.theme;
    const variables = (context.styles && context.styles.variables) || {};
    for (const [name, value] of Object.entries(variables)) {
      if (name.startsWith("--") && typeof value === "string") root.style.setProperty(name, value);
    }
  }

  function reportSize() {
    let last = "";
    const observer = new ResizeObserver(() => {
      const width = Math.ceil(document.documentElement.scrollWidth);
      const height = Math.ceil(document.documentElement.scrollHeight);
      const size = `${width}x${height}`;
      if (size === last) return;
      last = size;
      notify("ui/notifications/size-changed", { width, height });
    });
    observer.observe(document.documentElement);
  }

  function showMessage(text) {
    const main = document.getElementById("view");
    main.replaceChildren(el("p", { class: "message" }, text));
  }

  // Draw each tool result with `draw(structuredContent, result, toolArguments)`; redraw on resize (charts are
  // drawn to the width they have).
  function start(name, draw) {
    let latest = null;
    let input = {};
    const render = () => {
      if (!latest) return;
      const main = document.getElementById("view");
      const structured = latest.structuredContent;
      if (latest.isError || !structured || typeof structured !== "object") {
        const text = (latest.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
        showMessage(text || "The tool returned no data to show.");
        return;
      }
      const scrollY = window.scrollY;
      main.replaceChildren(...[].concat(draw(structured, latest, input)).flat(Infinity).filter(Boolean));
      window.scrollTo(0, scrollY);
    };
    listeners["ui/notifications/tool-input"] = (params) => {
      input = params.arguments || {};
    };
    listeners["ui/notifications/tool-input-partial"] = () => {};
    listeners["ui/notifications/tool-result"] = (result) => {
      latest = result;
      render();
    };
    listeners["ui/notifications/tool-cancelled"] = (params) => {
      showMessage(`The tool call was cancelled${params.reason ? `: ${params.reason}` : ""}.`);
    };
    listeners["ui/notifications/host-context-changed"] = applyContext;
    let width = window.innerWidth;
    window.addEventListener("resize", () => {
      if (Math.abs(window.innerWidth - width) < 8) return;
      width = window.innerWidth;
      render();
    });
    request("ui/initialize", {
      protocolVersion: PROTOCOL_VERSION,
      appInfo: { name: `epic-mcp ${name}`, version: VERSION },
      appCapabilities: { availableDisplayModes: ["inline"] },
    }).then((initialized) => {
      applyContext(initialized.hostContext || {});
      notify("ui/notifications/initialized", {});
      reportSize();
    }, (error) => showMessage(`The host did not start this view: ${error.message}`));
  }

  return { start };
})();

// DOM helpers: text always goes in as text nodes (record data is never parsed as HTML).
const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function el(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

function svg(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}
