<?php

namespace App\Http\Middleware;

use Closure;
use Illuminate\Http\Request;

// Ground truth for the capture, not part of a normal app: when a response sets the session
// cookie, say in clear which session id it carries. Global middleware wraps the `web`
// group, so by the time the response comes back here StartSession has saved the session
// and the id is final. The capture driver pairs this header with the encrypted cookie the
// same response set, so it knows every cookie's id without decrypting anything.
class SessionIdHeader
{
    public function handle(Request $request, Closure $next)
    {
        $response = $next($request);
        $name = config('session.cookie');
        foreach ($response->headers->getCookies() as $cookie) {
            if ($cookie->getName() === $name && $request->hasSession()) {
                $response->headers->set('X-Session-Id', $request->session()->getId());
            }
        }

        return $response;
    }
}
