"""``python -m portal [--host 127.0.0.1] [--port 8080] [--workers 1]``: the portal under uvicorn.

uvicorn's own proxy-header handling is switched off: by default it believes X-Forwarded-For from 127.0.0.1,
so anyone reaching the port locally could choose their audit address and dodge the per-address login limit.
The portal decides which forwarded addresses to believe itself (KONGCHUO_PORTAL_TRUSTED_PROXIES, portal/app.py).
"""

from __future__ import annotations

import argparse

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portal", description="控辍保学报表门户 report portal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    uvicorn.run("portal.app:app", host=args.host, port=args.port, workers=args.workers, proxy_headers=False,
                forwarded_allow_ips="", server_header=False)


if __name__ == "__main__":
    main()
