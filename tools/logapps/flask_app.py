"""Flask + Flask-Session on Redis, routes as in scenario.py.

Run: python flask_app.py PORT REDIS_URL. Flask-Session (>= 0.6) stores nothing for a
session that holds nothing, so `/` puts a CSRF token in it, as form-serving apps do.
"""

from __future__ import annotations

import secrets
import sys
import time

import redis
from flask import Flask, jsonify, request, session
from flask_session import Session

app = Flask(__name__)
app.config.update(SECRET_KEY="sessdiag-test", SESSION_TYPE="redis",
                  SESSION_REDIS=redis.Redis.from_url(sys.argv[2]), SESSION_PERMANENT=True)
Session(app)


def _delay() -> None:
    ms = int(request.args.get("delay_ms", "0"))
    if ms:
        time.sleep(ms / 1000)  # the app's own work (a password check): gives the race an order


@app.get("/")
def page():  # type: ignore[no-untyped-def]
    session.setdefault("csrf", secrets.token_hex(8))
    return f"hello {session.get('user', 'guest')}\n"


@app.get("/login")
def login():  # type: ignore[no-untyped-def]
    _delay()
    session["user"] = request.args.get("user", "alice")
    return f"logged in as {session['user']}\n"


@app.get("/info")
def info():  # type: ignore[no-untyped-def]
    _delay()
    return jsonify(user=session.get("user"))


@app.get("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.clear()
    return "bye\n"


@app.get("/health")
def health():  # type: ignore[no-untyped-def]
    return "ok\n"


if __name__ == "__main__":
    app.run("127.0.0.1", int(sys.argv[1]), threaded=True)
