<?php
// A small real PHP app with file sessions, run by `php -S 127.0.0.1:PORT app.php`.
// Routes as in tools/logapps/scenario.py. Like most PHP apps it starts the session in its
// common header on every page, so a client without the cookie gets a new (empty) session.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$delay = isset($_GET['delay_ms']) ? (int)$_GET['delay_ms'] : 0;

if ($path === '/health') {
    header('Content-Type: text/plain');
    echo "ok\n";
    return true;
}
session_start();
switch ($path) {
    case '/':
        header('Content-Type: text/plain');
        echo isset($_SESSION['user']) ? "hello {$_SESSION['user']}\n" : "hello guest\n";
        break;
    case '/login':
        usleep($delay * 1000);  // the password check
        $_SESSION['user'] = isset($_GET['user']) ? $_GET['user'] : 'alice';
        header('Content-Type: text/plain');
        echo "logged in as {$_SESSION['user']}\n";
        break;
    case '/info':
        usleep($delay * 1000);
        header('Content-Type: application/json');
        echo json_encode(['user' => isset($_SESSION['user']) ? $_SESSION['user'] : null]), "\n";
        break;
    case '/logout':
        $_SESSION = [];
        $p = session_get_cookie_params();
        setcookie(session_name(), '', time() - 42000, $p['path']);
        session_destroy();
        header('Content-Type: text/plain');
        echo "bye\n";
        break;
    default:
        http_response_code(404);
        echo "not found\n";
}
return true;
