"""Command line: `epic-mcp [serve]`, `keygen`, `jwks`, `doctor`, `sandbox`, `clients`, `export`.

Only the CLI commands print to stdout; `serve` keeps stdout for the MCP protocol and logs to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from . import __version__
from .bulk.cli import add_export_command, run_export_command
from .errors import ConfigError, EpicMcpError
from .logs import protect_logs
from .settings import (
    ENV_FILE_VARIABLE,
    Settings,
    environment_settings,
    is_loopback_host,
    load_settings,
    unknown_settings,
)

DESCRIPTION = """\
A read-only MCP server for Epic's FHIR R4 APIs, authenticating as an Epic Backend Services app.

Settings come from environment variables and a settings file: --env-file, else $EPIC_MCP_ENV_FILE,
else ./.env. See .env.example for every variable.
"""

EPILOG = """\
examples:
  epic-mcp keygen && epic-mcp jwks --out jwks.json
  epic-mcp --env-file ~/epic/.env doctor
  epic-mcp --env local                 # the built-in sandbox, started in the background if needed
  epic-mcp --env local export          # Bulk Data export of the sandbox group into the population database
  epic-mcp --transport streamable-http --port 8000
  epic-mcp clients add ward-assistant --tools core --patients erXuFYUfucBZaryVksYEcMg3
  epic-mcp reidentify 1beEBrzb9w8PZx... --reason "ticket 4711"   # PHI-minimising mode, audited

over HTTP, clients authenticate with EPIC_MCP_HTTP_TOKEN (one shared secret), EPIC_MCP_CLIENTS_FILE (named
clients, each with its tools and patients: `epic-mcp clients`) or EPIC_MCP_OAUTH_ISSUER + EPIC_MCP_RESOURCE_URL
(OAuth access tokens); replicas behind a load balancer need EPIC_MCP_HTTP_STATELESS=true and one
EPIC_MCP_CURSOR_KEY. /healthz and /readyz answer without authentication.
"""


def _configure_logging(level: str) -> None:
    """Logs go to stderr only: stdout is the MCP wire."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    protect_logs()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", metavar="PATH", default=argparse.SUPPRESS,
                        help=f"settings file to read (default: ${ENV_FILE_VARIABLE}, else ./.env)")
    common.add_argument("--env", choices=["sandbox", "production", "custom", "local"], default=argparse.SUPPRESS,
                        help="environment, overriding EPIC_ENV; local is the built-in sandbox")

    parser = argparse.ArgumentParser(prog="epic-mcp", description=DESCRIPTION, epilog=EPILOG, parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"epic-mcp {__version__}")
    _add_serve_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the MCP server (default)",
                                description="Run the MCP server: stdio (as MCP clients start it) or streamable "
                                "HTTP. Logs go to stderr; stdout is the MCP wire.")
    _add_serve_options(serve)

    keygen = commands.add_parser("keygen", parents=[common], help="create a signing key",
                                 description="Create a private signing key (PEM, mode 0600) and print its kid. "
                                 "Publish the public half with `epic-mcp jwks`.")
    keygen.add_argument("--alg", choices=["RS384", "ES384"], default="RS384",
                        help="RS384 makes an RSA key (also fine for RS256/RS512); ES384 an EC P-384 key")
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size (default 2048)")
    keygen.add_argument("--out", metavar="PATH", help="where to write the key (default: PRIVATE_KEY_PATH)")
    keygen.add_argument("--force", action="store_true", help="replace an existing key file")

    jwks = commands.add_parser("jwks", parents=[common], help="print the public JWKS",
                               description="Print the public JWK Set of every configured key (never a private "
                               "member), to host at the JWK Set URL registered at Epic.")
    jwks.add_argument("--out", metavar="FILE", help="write the JWKS to FILE instead of printing it")

    commands.add_parser("doctor", parents=[common], help="check the whole chain step by step",
                        description="Check the settings (and names that are no setting), the server or the local "
                        "sandbox's port, the key files and their mode, the JWKS, the token endpoint, a token, the "
                        "scopes granted and a FHIR read, one line each with the fix for each failure; a step that "
                        "needs a failed one says so. Every check runs; exit 0 only when every step passed. Never "
                        "prints the token, the key or the assertion's signature.")

    sandbox = commands.add_parser("sandbox", parents=[common],
                                  help="run the local Epic-like sandbox (needs the sandbox extra)",
                                  description="Run the local sandbox: a FHIR R4 server with a SMART token endpoint "
                                  "on 127.0.0.1 (EPIC_SANDBOX_PORT), with synthetic data dated relative to today, in "
                                  "EPIC_SANDBOX_DIR. `epic-mcp --env local` starts it in the background by itself.")
    action = sandbox.add_mutually_exclusive_group()
    action.add_argument("--background", action="store_true", help="start it detached and return")
    action.add_argument("--stop", action="store_true", help="stop a sandbox started earlier")
    action.add_argument("--reset", action="store_true", help="stop it and delete its data; the next start "
                        "loads the data set again")

    clients = commands.add_parser("clients", parents=[common],
                                  help="manage named MCP clients for HTTP (in EPIC_MCP_CLIENTS_FILE)",
                                  description="Manage the named MCP clients that may call the server over HTTP: "
                                  "each has its own secret (stored hashed in EPIC_MCP_CLIENTS_FILE), tool profile "
                                  "and optional patient allowlist. A change applies at once, without a restart.")
    client_actions = clients.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = client_actions.add_parser("add", help="add a client and print its secret (shown once)",
                                    description="Add a named client and print its secret, this once: the file "
                                    "keeps only its hash. The client sends it as `Authorization: Bearer <secret>`.")
    add.add_argument("name", help="the client's name, as the audit log shows it")
    add.add_argument("--tools", metavar="PROFILE", default="core",
                     help="core (default), clinical, all, or a comma-separated list of tool names")
    add.add_argument("--patients", metavar="IDS", help="comma-separated FHIR patient ids; the client sees only "
                     "their records (default: any patient)")
    client_actions.add_parser("list", help="list the clients (never their secrets)",
                              description="List the named clients with their tools and patient allowlists, never "
                              "their secrets.")
    remove = client_actions.add_parser("remove", help="remove a client; its secret stops working at once",
                                       description="Remove a named client: its secret stops working at once.")
    remove.add_argument("name")
    add_export_command(commands, common)
    reidentify = commands.add_parser(
        "reidentify", parents=[common], help="map pseudonyms (and shifted dates) of the PHI-minimising mode back "
        "to real values; needs EPIC_PHI_SECRET and writes each request to EPIC_AUDIT_LOG",
        description="Map the pseudonyms (and a patient's shifted dates) of the PHI-minimising mode "
        "(EPIC_PHI_MODE=minimum) back to the real ids, identifiers and dates, one line per value. For holders of "
        "EPIC_PHI_SECRET only; every value asked about, who asked and --reason go to EPIC_AUDIT_LOG before any "
        "answer is printed (the real value never does).")
    reidentify.add_argument("values", nargs="+", metavar="VALUE",
                            help="a pseudonym from an answer, or a date (YYYY-MM-DD) of the patient given by --patient")
    reidentify.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    reidentify.add_argument("--patient", metavar="PSEUDONYM", help="the patient whose shifted dates to move back")
    reidentify.add_argument("--type", dest="kinds", action="append", default=[], metavar="TYPE",
                            help="a resource type to try besides the catalog's (repeatable)")
    return parser


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default=argparse.SUPPRESS,
                        help="stdio (default) or streamable-http")
    parser.add_argument("--host", default=argparse.SUPPRESS, help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=argparse.SUPPRESS, help="HTTP port (default 8000)")
    parser.add_argument("--tools", metavar="PROFILE", default=argparse.SUPPRESS,
                        help="tool profile, overriding EPIC_TOOLS: core (default), clinical, population, all, "
                             "or tool names; combine with commas, e.g. all,population")


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`epic-mcp jwks | head`): no traceback, and none at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    env_file = getattr(args, "env_file", None)
    if args.command != "doctor":  # doctor reports them among its checks
        for unknown in unknown_settings(env_file):
            print(f"epic-mcp: {unknown}", file=sys.stderr)
    overrides = {"epic_env": args.env} if hasattr(args, "env") else {}
    if hasattr(args, "tools"):
        overrides["epic_tools"] = args.tools
    try:
        match args.command:
            case "keygen":
                return _keygen(args, env_file)
            case "jwks":
                return _jwks(load_settings(env_file, **overrides), args)
            case "doctor":
                return _doctor(env_file, overrides)
            case "sandbox":
                return _sandbox(args, load_settings(env_file, **{"epic_env": "local", **overrides}))
            case "clients":
                return _clients(args, load_settings(env_file, **overrides))
            case "export":
                _configure_logging("WARNING")
                return run_export_command(args, load_settings(env_file, **overrides))
            case "reidentify":
                return _reidentify(args, load_settings(env_file, **overrides))
            case _:
                return _serve(args, load_settings(env_file, **overrides), sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"epic-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    except EpicMcpError as exc:
        print(f"epic-mcp: {exc}", file=sys.stderr)
        return 1


def _keygen(args: argparse.Namespace, env_file: str | None) -> int:
    from .auth.keys import generate_key, write_private_key

    if args.out:
        path = Path(args.out)
    else:
        paths = load_settings(env_file).key_paths
        path = paths[-1] if paths and not paths[-1].is_dir() else Path("keys/private.key")
    kid = write_private_key(generate_key(args.alg, args.bits), path, force=args.force)
    print(f"wrote {args.alg if args.alg == 'ES384' else f'RSA {args.bits}'} private key to {path} (mode 0600)")
    print(f"kid {kid}")
    print("next: `epic-mcp jwks --out jwks.json`, host it at your JWKS URL, and register that URL at Epic")
    return 0


def _jwks(settings: Settings, args: argparse.Namespace) -> int:
    from .auth.keys import KeyRing

    document = json.dumps(KeyRing.from_settings(settings).jwks(), indent=2)
    if args.out:
        Path(args.out).write_text(document + "\n")
        print(f"wrote the public JWKS to {args.out}", file=sys.stderr)
    else:
        print(document)
    return 0


def _doctor(env_file: str | None, overrides: dict[str, str]) -> int:
    from .doctor import Doctor

    _configure_logging("WARNING")
    logging.getLogger("epic_mcp.auth.token").setLevel(logging.ERROR)  # its retries end in the step's one FAIL line
    doctor = Doctor(print)
    return 0 if asyncio.run(doctor.run(env_file, **overrides)) else 1


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from .sandbox import Sandbox, SandboxError, is_serving

    _configure_logging("INFO")
    if settings.epic_env != "local":
        raise ConfigError("--env: the sandbox command runs the local sandbox; use --env local or leave it out")
    sandbox = Sandbox(settings)
    if args.stop or args.reset:
        stopped = sandbox.stop()
        if not stopped and is_serving(sandbox.base_url):
            raise SandboxError(f"the sandbox on port {sandbox.port} was not started from {sandbox.folder}; stop it "
                               "with the EPIC_SANDBOX_DIR it was started with")
        if args.reset:
            sandbox.reset()
        print(f"sandbox {'stopped' if stopped else 'was not running'}{'; data deleted' if args.reset else ''}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        process = sandbox.start(background=args.background)
    except KeyboardInterrupt:
        print("epic-mcp: the sandbox start was interrupted; nothing is left running", file=sys.stderr)
        return 130
    try:
        print(f"sandbox serving FHIR R4 at {sandbox.base_url} (synthetic data; folder {sandbox.folder})")
        print("settings for epic-mcp (or just pass --env local):")
        print(sandbox.client_settings())
        if args.background:
            print("stop it with: epic-mcp sandbox --stop")
            return 0
        print("press Ctrl-C to stop", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        if args.background:
            return 130
        process.terminate()
        process.wait()
        return 0
    finally:
        if not args.background:
            sandbox.forget(process)


def _end_at_once(signum: int, frame: object) -> None:
    """Ctrl-C of the stdio server at a terminal: the SDK's reader thread waits on the terminal, where no
    cancellation reaches it, so a graceful stop would hang until Enter. No MCP client is connected to lose
    anything, and the audit log is written line by line: end now."""
    os._exit(130)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops a foreground sandbox the way Ctrl-C does, so it cleans up after itself."""
    raise KeyboardInterrupt


def _clients(args: argparse.Namespace, settings: Settings) -> int:
    from .access.clients import ClientStore

    if settings.epic_mcp_clients_file is None:
        raise ConfigError("EPIC_MCP_CLIENTS_FILE is not set: name the file that keeps the clients (e.g. "
                          "/etc/epic-mcp/clients.json) in the settings file or the environment")
    store = ClientStore(settings.epic_mcp_clients_file)
    if args.action == "add":
        patients = args.patients.split(",") if args.patients is not None else None
        secret = store.add(args.name, args.tools, patients)
        print(f"added client {args.name} to {store.path}; its secret (shown this once, keep it in the client's "
              "secret store; it sends it as `Authorization: Bearer <secret>`):")
        print(secret)
    elif args.action == "remove":
        if not store.remove(args.name):
            raise ConfigError(f"NAME: no client named {args.name} in {store.path}")
        print(f"removed client {args.name}")
    else:
        records = store.load()
        print("\n".join(r.describe() for r in records.values()) if records else f"no clients in {store.path}")
    return 0


def _reidentify(args: argparse.Namespace, settings: Settings) -> int:
    from .phi.reidentify import reidentify

    for line in reidentify(settings, args.values, args.reason, args.patient, args.kinds):
        print(line)
    return 0


def _waiting_on_a_terminal(argv: list[str]) -> str:
    """The one line for someone who ran the stdio server in a terminal, where it silently waits for MCP messages:
    what it is doing, and the same command in an MCP client that shows it working. The inspector passes the
    server no environment variables of the shell's, so the settings given that way go along as -e options (the
    secret ones only by name: they are never printed)."""
    program = sys.argv[0]
    command = [program] if Path(program).name == "epic-mcp" else [sys.executable, "-m", "epic_mcp"]
    plain, secret = environment_settings()
    options = [part for name, value in sorted(plain.items()) for part in ("-e", f"{name}={value}")]
    unsaid = f" (add -e {'=... -e '.join(secret)}=...)" if secret else ""
    return (f"epic-mcp: waiting for an MCP client on stdin (this is an MCP server: an MCP client starts it and "
            f"talks to it in JSON-RPC); to try it, run it in the MCP inspector: npx @modelcontextprotocol/inspector "
            f"{shlex.join([*options, *command, *argv])}{unsaid}, or ./scripts/demo in a checkout; Ctrl-C stops it")


def _serve(args: argparse.Namespace, settings: Settings, argv: list[str]) -> int:
    _configure_logging(settings.epic_log_level)
    transport = getattr(args, "transport", "stdio")
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8000)
    if transport == "streamable-http" and not is_loopback_host(host) and not settings.http_authentication:
        raise ConfigError(f"--host: refusing to serve patient data on {host} without client authentication; "
                          "bind 127.0.0.1, or set EPIC_MCP_HTTP_TOKEN, EPIC_MCP_CLIENTS_FILE or "
                          "EPIC_MCP_OAUTH_ISSUER (and put TLS in front)")
    if settings.epic_env == "local":
        from .sandbox import Sandbox

        Sandbox(settings).ensure_running()
    from .serve.server import build_server

    server = build_server(settings)
    if transport == "stdio":
        import anyio

        from .serve.stdio import serve_stdio

        if sys.stdin is not None and sys.stdin.isatty():
            signal.signal(signal.SIGINT, _end_at_once)
            print(_waiting_on_a_terminal(argv), file=sys.stderr, flush=True)
        anyio.run(serve_stdio, server)
    else:
        import uvicorn

        from .serve.http import http_app

        uvicorn.run(http_app(server, settings, host, port), host=host, port=port, log_level="warning")
    return 0

