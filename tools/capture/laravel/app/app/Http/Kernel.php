<?php

namespace App\Http;

use Illuminate\Foundation\Http\Kernel as HttpKernel;

// The middleware of Laravel 8's application skeleton (laravel/laravel 8.x app/Http/Kernel.php),
// less what needs packages Debian does not ship (fruitcake/laravel-cors, trusted proxies),
// plus SessionIdHeader, the capture's ground truth.
class Kernel extends HttpKernel
{
    protected $middleware = [
        \App\Http\Middleware\SessionIdHeader::class,
        \Illuminate\Foundation\Http\Middleware\ValidatePostSize::class,
        \Illuminate\Foundation\Http\Middleware\ConvertEmptyStringsToNull::class,
    ];

    protected $middlewareGroups = [
        'web' => [
            \App\Http\Middleware\EncryptCookies::class,
            \Illuminate\Cookie\Middleware\AddQueuedCookiesToResponse::class,
            \Illuminate\Session\Middleware\StartSession::class,
            \Illuminate\View\Middleware\ShareErrorsFromSession::class,
            \App\Http\Middleware\VerifyCsrfToken::class,
            \Illuminate\Routing\Middleware\SubstituteBindings::class,
        ],

        'api' => [
            'throttle:api',
            \Illuminate\Routing\Middleware\SubstituteBindings::class,
        ],
    ];

    protected $routeMiddleware = [
        'auth' => \Illuminate\Auth\Middleware\Authenticate::class,
        'throttle' => \Illuminate\Routing\Middleware\ThrottleRequests::class,
    ];
}
