<?php

use Illuminate\Support\Facades\Route;

// The `api` group has no session middleware: nothing here makes a session.
Route::get('/health', function () {
    return response()->json(['ok' => true]);
});

Route::get('/items', function () {
    return response()->json([['id' => 1, 'name' => 'apple'], ['id' => 2, 'name' => 'pear']]);
});
