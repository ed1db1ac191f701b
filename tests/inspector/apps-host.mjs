// The web host of tests/apps_host: renders one MCP Apps view the way a web host does, with the extension's own
// host library (AppBridge). The view runs in a sandbox proxy on another origin, which holds it in an inner iframe
// under the CSP the view's resource declares. Bundled for the browser by rolldown at test time.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

window.renderView = async ({ html, csp, tool, toolInput, toolResult, sandboxUrl, width, theme }) => {
  const frame = document.createElement("iframe");
  frame.id = "sandbox";
  frame.title = tool.title || tool.name;
  frame.setAttribute("sandbox", "allow-scripts allow-same-origin");
  frame.style.width = `${width}px`;
  frame.style.height = "120px";
  document.getElementById("views").append(frame);
  const hostContext = {
    toolInfo: { tool }, theme, displayMode: "inline", availableDisplayModes: ["inline"],
    containerDimensions: { width, maxHeight: 6000 }, locale: "en-US", platform: "web",
    deviceCapabilities: { hover: true, touch: false },
  };
  const host = { name: "epic-mcp-test-host", version: "1.0.0" };
  const bridge = new AppBridge(null, host, { logging: {} }, { hostContext });
  const sized = [];
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${height}px`;
    sized.push(height);
  };
  const proxyReady = new Promise((resolve) => { bridge.onsandboxready = resolve; });
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.src = sandboxUrl;
  await proxyReady;
  await bridge.sendSandboxResourceReady({ html, csp });
  await initialized;
  await bridge.sendToolInput({ arguments: toolInput });
  await bridge.sendToolResult(toolResult);
  window.hostState = { app: bridge.getAppVersion(), capabilities: bridge.getAppCapabilities(), sized };
  return window.hostState;
};
