<?php

// The whole autoloader of this app: Debian's packaged framework (php-laravel-framework
// installs its own class map under /usr/share/php) and a PSR-4 loader for App\ => app/.
// There is no composer and no vendor/ directory.

require_once 'Illuminate/autoload.php';

spl_autoload_register(function (string $class): void {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = __DIR__.'/../app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    if (is_file($file)) {
        require $file;
    }
});
