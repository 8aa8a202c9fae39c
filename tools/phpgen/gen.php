<?php
// Real PHP session payloads for tests/codecs/test_phpser.py: php tools/phpgen/gen.php fixtures/php
// (PHP 8.2; the 'php' and 'php_serialize' handlers; session ids are fixed, files are in /tmp).
enum Suit: string { case Hearts = 'H'; }
class User { public $name = "ann"; protected $role = "admin"; private $id = 7; public $tags = [1, "x"]; }
class Blob implements Serializable { public function serialize() { return "raw\x00data"; } public function unserialize($s) {} }
$out = $argv[1];
ini_set('session.save_path', sys_get_temp_dir());
$vectors = [];
foreach (['php', 'php_serialize'] as $h) {
  ini_set('session.serialize_handler', $h);
  session_id('t' . $h); @session_start();
  $_SESSION = [];
  $_SESSION['uid'] = 42; $_SESSION['neg'] = -7; $_SESSION['name'] = "Zoë";
  $_SESSION['pi'] = 3.25; $_SESSION['inf'] = INF; $_SESSION['ok'] = true; $_SESSION['none'] = null;
  $_SESSION['list'] = [10, 20, [30, ["deep" => 1]]];
  $_SESSION['user'] = new User(); $u = new User(); $_SESSION['a'] = $u; $_SESSION['b'] = $u;
  $x = 5; $_SESSION['r1'] = &$x; $_SESSION['r2'] = &$x;
  $_SESSION['suit'] = Suit::Hearts; $_SESSION['blob'] = @new Blob();
  $_SESSION['bin'] = "\xff\xfe";
  $vectors[$h] = session_encode();
  session_write_close();
}
// Arrays nested exactly at sessdiag's limit (256 levels) and one past it.
$d = []; for ($i = 1; $i < 256; $i++) { $d = [$d]; }
$vectors['nested_256'] = session_encode_value('x', $d);
$vectors['nested_257'] = session_encode_value('x', [$d]);
function session_encode_value($k, $v) { return $k . '|' . serialize($v); }
foreach ($vectors as $k => $v) { file_put_contents("$out/$k.sess", $v); }
