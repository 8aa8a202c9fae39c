<?php

namespace App\Auth;

use Illuminate\Auth\GenericUser;
use Illuminate\Contracts\Auth\Authenticatable;
use Illuminate\Contracts\Auth\UserProvider;

// Users without a database: any name, password "secret". Login still goes through the real
// SessionGuard (Auth::attempt), which is what rotates the session id.
class StaticUserProvider implements UserProvider
{
    private function user(string $name): GenericUser
    {
        return new GenericUser(['id' => $name, 'name' => $name, 'password' => 'secret',
                                'remember_token' => null]);
    }

    public function retrieveById($identifier)
    {
        return $this->user((string) $identifier);
    }

    public function retrieveByToken($identifier, $token)
    {
        return null;
    }

    public function updateRememberToken(Authenticatable $user, $token)
    {
    }

    public function retrieveByCredentials(array $credentials)
    {
        return isset($credentials['name']) ? $this->user($credentials['name']) : null;
    }

    public function validateCredentials(Authenticatable $user, array $credentials)
    {
        return ($credentials['password'] ?? null) === 'secret';
    }
}
