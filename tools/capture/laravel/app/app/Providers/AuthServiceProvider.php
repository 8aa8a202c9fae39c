<?php

namespace App\Providers;

use App\Auth\StaticUserProvider;
use Illuminate\Support\Facades\Auth;
use Illuminate\Support\ServiceProvider;

class AuthServiceProvider extends ServiceProvider
{
    public function boot()
    {
        Auth::provider('static', function ($app, array $config) {
            return new StaticUserProvider();
        });
    }
}
