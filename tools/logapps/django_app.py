"""A one-file Django project: cache-backed sessions on Redis, routes as in scenario.py.

Run: python django_app.py PORT REDIS_URL. Django saves a session only once it is modified,
so `/` puts a CSRF-style token in it.
"""

from __future__ import annotations

import secrets
import sys
import time

import django
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False, SECRET_KEY="sessdiag-test", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["django.contrib.sessions"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": sys.argv[2]}},
    LOGGING_CONFIG=None,
)
django.setup()


def _delay(request) -> None:  # type: ignore[no-untyped-def]
    ms = int(request.GET.get("delay_ms", "0"))
    if ms:
        time.sleep(ms / 1000)  # the app's own work: gives the race an order


def page(request):  # type: ignore[no-untyped-def]
    request.session.setdefault("csrf", secrets.token_hex(8))
    return HttpResponse(f"hello {request.session.get('user', 'guest')}\n")


def login(request):  # type: ignore[no-untyped-def]
    _delay(request)
    request.session["user"] = request.GET.get("user", "alice")
    return HttpResponse(f"logged in as {request.session['user']}\n")


def info(request):  # type: ignore[no-untyped-def]
    _delay(request)
    return JsonResponse({"user": request.session.get("user")})


def logout(request):  # type: ignore[no-untyped-def]
    request.session.flush()
    return HttpResponse("bye\n")


def health(request):  # type: ignore[no-untyped-def]
    return HttpResponse("ok\n")


urlpatterns = [path("", page), path("login", login), path("info", info),
               path("logout", logout), path("health", health)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "runserver", "--noreload",
                               f"127.0.0.1:{sys.argv[1]}"])
