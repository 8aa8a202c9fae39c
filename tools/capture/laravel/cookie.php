<?php

// The framework's own cookie encryption, for the capture driver:
//   php cookie.php APP_DIR encrypt NAME ID   -> the Set-Cookie form (rawurlencoded) of ID
//   php cookie.php APP_DIR decrypt NAME      -> one line per stdin line: the decrypted value
//                                               (prefix|id) or "!error"
// The key and cipher come from APP_DIR/.env and config/app.php, as in the app itself.

require $argv[1].'/bootstrap/autoload.php';

use Illuminate\Cookie\CookieValuePrefix;
use Illuminate\Encryption\Encrypter;
use Illuminate\Support\Str;

$env = Dotenv\Dotenv::createArrayBacked($argv[1])->load();
$key = $env['APP_KEY'];
if (Str::startsWith($key, 'base64:')) {
    $key = base64_decode(substr($key, 7));
}
$encrypter = new Encrypter($key, 'AES-256-CBC');
$name = $argv[3];

if ($argv[2] === 'encrypt') {
    echo rawurlencode($encrypter->encrypt(CookieValuePrefix::create($name, $key).$argv[4], false)), "\n";
    exit(0);
}

while (($line = fgets(STDIN)) !== false) {
    try {
        echo $encrypter->decrypt(rawurldecode(trim($line)), false), "\n";
    } catch (Throwable $e) {
        echo "!error\n";
    }
}
