<?php

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Auth;
use Illuminate\Support\Facades\Route;

// `delay_ms` is how long the app spends on a request (a password check, a slow query): the
// capture uses it to order two concurrent requests without sleeping in the driver.
function sessdiag_delay(Request $request): void
{
    $ms = (int) $request->query('delay_ms', 0);
    if ($ms > 0) {
        usleep(min($ms, 5000) * 1000);
    }
}

// A landing page: it stores nothing itself, but in the `web` group every visit starts a
// session holding only _token, _previous and _flash.
Route::get('/', function () {
    return response('<!doctype html><title>shop</title><h1>Welcome</h1>');
});

// Login as Laravel's starter kits do it: Auth::attempt (the SessionGuard migrates the
// session to a new id and destroys the old one), then regenerate().
Route::get('/login', function (Request $request) {
    sessdiag_delay($request);
    if (! Auth::attempt(['name' => $request->query('user', 'guest'), 'password' => 'secret'])) {
        abort(403);
    }
    $request->session()->regenerate();
    $request->session()->put('cart', ['apple', 'pear']);

    return response('logged in as '.Auth::id());
});

// The page's periodic "am I still logged in?" call.
Route::get('/info', function (Request $request) {
    sessdiag_delay($request);

    return response()->json(['user' => Auth::id()]);
});

Route::get('/logout', function (Request $request) {
    Auth::logout();
    $request->session()->invalidate();
    $request->session()->regenerateToken();

    return response('bye');
});

// The common mistake: a health check in routes/web.php. Every probe starts a session.
Route::get('/ping', function () {
    return response('pong');
});
