"""gunicorn settings that do not come from DERMBRIDGE_* variables (`dermbridge serve` loads this
with ``-c python:dermbridge.core.gunicorn_config``; the rest is on its command line)."""

import os

wsgi_app = "dermbridge.wsgi:application"
worker_class = "gthread"
# Django alone decides what a forwarded header means (dermbridge.core.proxy, trusted proxies
# only, and SECURE_PROXY_SSL_HEADER): gunicorn must not turn X-Forwarded-Proto into https itself.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""
# No control socket in the service user's home (read-only under the systemd units' hardening).
control_socket_disable = True
# The workers' heartbeat files in memory: a slow disk never looks like a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 (tmpfs, by design)
graceful_timeout = 30
# Behind a reverse proxy that keeps connections to us open: longer than gunicorn's 2 s default.
keepalive = 15
# Recycle a worker now and then (staggered), so slow growth in memory never accumulates.
max_requests = 5000
max_requests_jitter = 500
# Errors to stderr (the journal); no access log here: the proxy keeps one, and URLs can carry a
# patient's status-link token.
errorlog = "-"
accesslog = None
