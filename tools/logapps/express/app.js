// express-session + connect-redis, routes as in tools/logapps/scenario.py.
// Run: node app.js PORT REDIS_URL. saveUninitialized is left at its default (true), as in
// connect-redis issue #247: every request without the cookie stores a new session.
const express = require("express");
const session = require("express-session");
const RedisStore = require("connect-redis").default;
const { createClient } = require("redis");

const [port, redisUrl] = process.argv.slice(2);
const client = createClient({ url: redisUrl });
const delay = (req) => new Promise((r) => setTimeout(r, parseInt(req.query.delay_ms || "0", 10)));

client.connect().then(() => {
  const app = express();
  app.use(session({ store: new RedisStore({ client }), secret: "sessdiag-test", resave: false }));
  app.get("/", (req, res) => res.type("text").send(`hello ${req.session.user || "guest"}\n`));
  app.get("/login", async (req, res) => {
    await delay(req); // the password check
    req.session.user = req.query.user || "alice";
    res.type("text").send(`logged in as ${req.session.user}\n`);
  });
  app.get("/info", async (req, res) => {
    await delay(req);
    res.json({ user: req.session.user || null });
  });
  app.get("/logout", (req, res) =>
    req.session.destroy(() => res.clearCookie("connect.sid").type("text").send("bye\n")));
  app.get("/health", (req, res) => res.type("text").send("ok\n"));
  app.listen(parseInt(port, 10), "127.0.0.1", () => console.log(`listening on ${port}`));
});
