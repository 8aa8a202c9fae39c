// Real express-session 1.18 + connect-redis 7.1 sessions, written through HTTP requests to an
// in-process express app, into the redis-server at REDIS_URL. Prints nothing; the capture
// runner dumps the keys afterwards.
//   uninitialised: 6 cookieless requests (saveUninitialized defaults to true: every one is saved)
//   logged in:     3 clients that log in (userId), then come back with their cookie
//   prefix "myapp:sess:": 2 cookieless requests to a second app (namespace drift)
//   no maxAge:     1 login on an app whose cookie has no maxAge (TTL = the 86400 default)
const http = require("http");
const express = require("express");
const session = require("express-session");
const RedisStore = require("connect-redis").default;
const { createClient } = require("redis");

async function main() {
  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  const mk = (prefix, maxAge) => {
    const app = express();
    app.use(session({
      store: new RedisStore({ client, prefix }),
      secret: "capture",
      resave: false,
      cookie: maxAge ? { maxAge } : {},
    }));
    app.get("/", (req, res) => res.send("ok"));
    app.get("/login", (req, res) => { req.session.userId = req.query.u; res.send("in"); });
    return app;
  };
  const serve = (app) => new Promise((ok) => { const s = app.listen(0, "127.0.0.1", () => ok(s)); });
  const get = (port, path, cookie) => new Promise((ok, fail) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers: cookie ? { cookie } : {} },
      (res) => { res.resume(); res.on("end", () => ok(res.headers["set-cookie"])); });
    req.on("error", fail);
  });
  const main = await serve(mk("sess:", 86400000));
  const other = await serve(mk("myapp:sess:", 3600000));
  const nomax = await serve(mk("sess:", 0));
  for (let i = 0; i < 6; i++) await get(main.address().port, "/");
  for (const u of ["alice", "bob", "carol"]) {
    const c = await get(main.address().port, "/login?u=" + u);
    await get(main.address().port, "/", c[0].split(";")[0]);
  }
  for (let i = 0; i < 2; i++) await get(other.address().port, "/");
  await get(nomax.address().port, "/login?u=dave");
  for (const s of [main, other, nomax]) s.close();
  await client.quit();
}
main().catch((e) => { console.error(e); process.exit(1); });
