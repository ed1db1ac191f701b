// The sandbox proxy of the test host (MCP Apps, "Sandbox proxy"): on its own origin, under the CSP built from the
// view's declared domains (an HTTP header of this page, which the inner document inherits). It loads the view's
// HTML into an inner iframe and relays JSON-RPC messages between the host and the view.
"use strict";
const HOST = new URL(document.referrer).origin;
const inner = document.createElement("iframe");
inner.name = "view";
inner.setAttribute("sandbox", "allow-scripts");
document.body.append(inner);

window.addEventListener("message", (event) => {
  if (event.source === window.parent && event.origin === HOST) {
    const message = event.data;
    if (message && message.method === "ui/notifications/sandbox-resource-ready") {
      inner.srcdoc = message.params.html;
    } else if (inner.contentWindow) {
      inner.contentWindow.postMessage(message, "*");
    }
  } else if (event.source === inner.contentWindow) {
    window.parent.postMessage(event.data, HOST);
  }
});

window.parent.postMessage({ jsonrpc: "2.0", method: "ui/notifications/sandbox-proxy-ready", params: {} }, HOST);
