<?php
// Real PHP sessions through the phpredis save handler (php-redis), written into the
// redis-server at tcp://127.0.0.1:$argv[1]. Debian's php.ini defaults apply otherwise.
//   3 sessions that store nothing (PHP writes SETEX k 1440 "": the orphans of docs/frameworks/php-redis.md)
//   2 sessions with data (default 'php' serialize handler)
//   1 session with the php_serialize handler
ini_set('session.save_handler', 'redis');
ini_set('session.save_path', 'tcp://127.0.0.1:' . $argv[1]);
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.gc_maxlifetime', '1440');
function one(array $data, string $handler = 'php') {
    ini_set('session.serialize_handler', $handler);
    session_id(session_create_id());
    session_start();
    foreach ($data as $k => $v) { $_SESSION[$k] = $v; }
    session_write_close();
}
for ($i = 0; $i < 3; $i++) { one([]); }
one(['uid' => 42, 'name' => 'bob']);
one(['uid' => 7, 'cart' => ['apple', 'pear'], 'admin' => false, 'ratio' => 0.5]);
one(['uid' => 9, 'flash' => null], 'php_serialize');
