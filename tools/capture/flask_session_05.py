"""Flask-Session 0.5 (pickle) sessions through Flask's test client into 127.0.0.1:PORT.

Run by run.py inside a throwaway venv holding flask-session==0.5.0 (the last pickle release):
3 cookieless requests (0.5 saves {'_permanent': True} for each: never-reused sessions) and
2 clients that log in.
"""

import sys

import redis
from flask import Flask, session
from flask_session import Session

app = Flask(__name__)
app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis(port=int(sys.argv[1])),
                  SECRET_KEY="capture")
Session(app)


@app.get("/")
def index():
    return "ok"


@app.get("/login/<user>")
def login(user):
    session["user_id"] = user
    session["roles"] = ["reader"]
    return "in"


for _ in range(3):
    app.test_client().get("/")
for u in ("alice", "bob"):
    c = app.test_client()
    c.get(f"/login/{u}")
    c.get("/")
