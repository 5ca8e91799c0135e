"""Run one fake alone on a port: `python -m fakes evolution|autentique|graph --port N`.

Configuration comes from flags so a demo runner or an end-to-end test can start a fake as a process and
then drive it over its `/_fake/...` control routes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

from fakes import autentique, evolution, graph

_DEFAULT_PORTS = {"evolution": 8080, "autentique": 8081, "graph": 8082}


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fakes", description=__doc__)
    parser.add_argument("fake", choices=sorted(_DEFAULT_PORTS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: evolution 8080, autentique 8081, graph 8082")
    parser.add_argument("--retry-delay-scale", type=float, default=1.0, help="multiplies webhook retry waits")
    evo = parser.add_argument_group("evolution")
    evo.add_argument("--global-apikey", default=evolution.DEFAULT_GLOBAL_APIKEY)
    evo.add_argument(
        "--instance",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME:APIKEY",
        help="repeatable; default vendas-01:fake-instance-apikey",
    )
    evo.add_argument("--server-url", default=None, help="`server_url` in webhook envelopes")
    evo.add_argument("--send-delay-scale", type=float, default=1.0, help="multiplies sendText `delay`")
    aut = parser.add_argument_group("autentique")
    aut.add_argument("--token", default=autentique.DEFAULT_API_TOKEN)
    aut.add_argument("--webhook-url", default=None)
    aut.add_argument("--webhook-secret", default="fake-autentique-webhook-secret")
    gr = parser.add_argument_group("graph")
    gr.add_argument(
        "--pixel",
        action="append",
        type=_pair,
        default=[],
        metavar="PIXEL_ID:ACCESS_TOKEN",
        help="repeatable; default 1234567890:fake-graph-token",
    )
    return parser


def build_app(args: argparse.Namespace) -> FastAPI:
    if args.fake == "evolution":
        evo_state = evolution.EvolutionState(
            global_apikey=args.global_apikey,
            server_url=args.server_url or f"http://{args.host}:{args.port}",
            retry_delay_scale=args.retry_delay_scale,
            send_delay_scale=args.send_delay_scale,
        )
        for name, apikey in args.instance or [("vendas-01", "fake-instance-apikey")]:
            evo_state.add_instance(name, apikey)
        return evolution.create_app(evo_state)
    if args.fake == "autentique":
        aut_state = autentique.AutentiqueState(api_token=args.token, retry_delay_scale=args.retry_delay_scale)
        if args.webhook_url:
            aut_state.webhook = autentique.WebhookEndpoint(url=args.webhook_url, secret=args.webhook_secret)
        return autentique.create_app(aut_state)
    graph_state = graph.GraphState()
    for pixel_id, token in args.pixel or [("1234567890", "fake-graph-token")]:
        graph_state.add_pixel(pixel_id, token)
    return graph.create_app(graph_state)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.port = args.port or _DEFAULT_PORTS[args.fake]
    uvicorn.run(build_app(args), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
