#!/usr/bin/env python3
"""Generate a realistic nginx access log (combined format) for `portcullis replay`.

    python3 samples/gen_access_log.py > samples/access.log           # the committed sample
    python3 samples/gen_access_log.py --lines 1000000 -o /tmp/big.log  # a large log

One day of traffic (12 Jan 2026, +0100), spread over the requested number of lines:
browsers and search-engine bots, API clients (some with a logged basic-auth user),
single logins and bursts of login attempts from one address, anonymous visits to
/admin/, probes for /.env, /.git/config and backups, sqlmap and Nikto runs, a blocked
network, the office reaching /internal/, and a few lines that are not requests (a TLS
handshake on the plain-HTTP port, a 408 with no request line, a cut-off line).

Output is deterministic for a given --seed and --lines. Addresses come from documentation
and benchmarking ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15,
2001:db8::/32); the ones the starter pack names (blocklist, office) are used on purpose.
"""

import argparse
import datetime
import random
import sys

TZ = datetime.timezone(datetime.timedelta(hours=1))
START = datetime.datetime(2026, 1, 12, 0, 0, 0, tzinfo=TZ)
DAY = 86400

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
]
API_AGENTS = ["python-requests/2.32.3", "okhttp/4.12.0", "Go-http-client/2.0", "axios/1.7.9", "curl/8.5.0"]
PROBE_AGENTS = ["curl/7.88.1", "python-requests/2.31.0", "Go-http-client/1.1", "Mozilla/5.0 zgrab/0.x", "-",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"]
SQLMAP = "sqlmap/1.8.11#stable (https://sqlmap.org)"
NIKTO = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:{:06d})"

PAGES = ["/", "/", "/", "/products", "/products/{}", "/products/{}/reviews", "/blog", "/blog/{}-release-notes",
         "/search?q={}", "/about", "/contact", "/pricing", "/docs/getting-started", "/cart", "/account"]
ASSETS = ["/static/app.{}.js", "/static/app.{}.css", "/static/img/logo.svg", "/favicon.ico", "/static/fonts/inter.woff2"]
WORDS = ["shoes", "rain+jacket", "gift+card", "usb-c+cable", "tent", "kettle", "desk+lamp", "backpack"]
PROBES = ["/.env", "/.git/config", "/.git/HEAD", "/.aws/credentials", "/wp-config.php.bak", "/backup.sql.gz",
          "/db.sql", "/site.tar.gz", "/www.zip", "/config.php.old", "/.htpasswd", "/phpinfo.php", "/server-status",
          "/.DS_Store", "/index.php~", "/.svn/entries", "/api/.env", "/app/.env.bak"]
SQLI = ["1%27", "1%27%20AND%201%3D1--%20-", "1%22%20OR%20%221%22%3D%221", "1%20UNION%20ALL%20SELECT%20NULL%2CNULL--%20-",
        "1%27%3BSELECT%20PG_SLEEP%285%29--", "1%29%20AND%20SLEEP%285%29%23"]
NIKTO_PATHS = ["/", "/admin/", "/cgi-bin/test.cgi", "/.git/config", "/phpmyadmin/", "/backup.tar.gz", "/server-status",
               "/login.php", "/README", "/icons/README", "/shell.php", "/wp-login.php"]
API_USERS = ["svc-billing", "svc-reports", "alice", "bob"]
REFERERS = ["https://www.google.com/", "https://shop.example.com/", "https://shop.example.com/products", "-", "-"]


class Log:
    def __init__(self, rng, lines, out):
        self.rng, self.left, self.lines, self.out = rng, lines, max(lines, 1), out
        self.t = 0.0
        self.stamps = {}

    def stamp(self):
        s = int(self.t)
        v = self.stamps.get(s)
        if v is None:
            if len(self.stamps) > 4096:
                self.stamps.clear()
            v = (START + datetime.timedelta(seconds=s)).strftime("%d/%b/%Y:%H:%M:%S %z")
            self.stamps[s] = v
        return v

    def advance(self, gap=None):
        if gap is None:
            # A new visit: time follows the share of lines written, so the log spans the day
            # whatever its length; bursts (assets, scans, login attempts) add their own gaps.
            self.t = max(self.t, DAY * (self.lines - self.left) / self.lines)
            gap = self.rng.expovariate(2.0 * self.lines / DAY)
        self.t += gap

    def raw(self, text):
        if self.left > 0:
            self.out.write(text + "\n")
            self.left -= 1

    def line(self, ip, method, uri, status, size, agent, referer="-", user="-", gap=None):
        self.advance(gap)
        self.raw(f'{ip} - {user} [{self.stamp()}] "{method} {uri} HTTP/1.1" {status} {size} "{referer}" "{agent}"')


def client_ip(rng):
    if rng.random() < 0.12:
        return f"2001:db8:{rng.randrange(1, 0xcaf):x}::{rng.randrange(1, 0xffff):x}"
    return f"198.{rng.choice((18, 19))}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def attacker_ip(rng):
    n = rng.randrange(2, 254)
    return f"198.51.100.{n if n != 66 else 67}"


def browse(log, rng):
    ip, agent = client_ip(rng), rng.choice(BROWSERS)
    page = rng.choice(PAGES)
    page = page.format(rng.choice(WORDS) if page.startswith("/search") else rng.randrange(1, 500))
    log.line(ip, "GET", page, rng.choice((200, 200, 200, 304)), rng.randrange(2000, 60000), agent, rng.choice(REFERERS))
    for _ in range(rng.randrange(0, 4)):
        asset = rng.choice(ASSETS).format(rng.choice(("3f9a1c", "b71e02")))
        log.line(ip, "GET", asset, rng.choice((200, 304)), rng.randrange(300, 250000), agent,
                 f"https://shop.example.com{page}", gap=rng.uniform(0.05, 0.5))


def bot(log, rng):
    agent = rng.choice(BOTS)
    uri = rng.choice(PAGES)
    if rng.random() < 0.2:
        uri = "/robots.txt"
    elif uri.startswith("/search"):
        uri = "/sitemap.xml"
    else:
        uri = uri.format(rng.randrange(1, 500))
    log.line(f"198.18.200.{rng.randrange(1, 60)}", "GET", uri, 200, rng.randrange(500, 40000), agent)


def api(log, rng):
    agent = rng.choice(API_AGENTS)
    r = rng.random()
    if r < 0.2:
        log.line(client_ip(rng), "GET", "/api/public/status", 200, 27, agent)
    elif r < 0.35:
        # No credentials: the API answered 401.
        log.line(client_ip(rng), rng.choice(("GET", "POST")), f"/api/v1/orders?page={rng.randrange(1, 9)}", 401, 65,
                 agent if rng.random() < 0.8 else "-")
    else:
        user = rng.choice(API_USERS)
        ip = f"198.19.10.{API_USERS.index(user) + 10}"
        for _ in range(rng.randrange(1, 6)):
            method, status = rng.choice((("GET", 200), ("GET", 200), ("POST", 201), ("PUT", 200), ("DELETE", 204)))
            uri = f"/api/v1/orders/{rng.randrange(10000, 99999)}" if method != "POST" else "/api/v1/orders"
            log.line(ip, method, uri, status, rng.randrange(0, 4000) if status != 204 else 0, agent, user=user,
                     gap=rng.uniform(0.2, 3.0))


def login(log, rng):
    ip, agent = client_ip(rng), rng.choice(BROWSERS)
    log.line(ip, "GET", "/login", 200, 5120, agent, "https://shop.example.com/")
    log.line(ip, "POST", "/login", rng.choice((302, 302, 302, 200)), 0, agent, "https://shop.example.com/login",
             gap=rng.uniform(3, 20))


def login_burst(log, rng):
    # Credential stuffing: one address, many POSTs a few seconds apart.
    ip, agent = attacker_ip(rng), rng.choice(("python-requests/2.31.0", BROWSERS[0], "Go-http-client/1.1"))
    for i in range(rng.randrange(8, 20)):
        log.line(ip, "POST", "/login", 200 if i else 302, rng.choice((1830, 1831)), agent, gap=rng.uniform(0.5, 4.0))


def probe(log, rng):
    ip, agent = attacker_ip(rng), rng.choice(PROBE_AGENTS)
    for path in rng.sample(PROBES, rng.randrange(1, 5)):
        log.line(ip, "GET", path, 404, 153, agent, gap=rng.uniform(0.1, 1.5))


def admin(log, rng):
    ip, agent = client_ip(rng), rng.choice(BROWSERS + PROBE_AGENTS[:2])
    path = rng.choice(("/admin/", "/admin/", "/admin/login", "/admin/users", "/admin/settings"))
    log.line(ip, "GET", path, 302, 0, agent)


def sqlmap(log, rng):
    ip = attacker_ip(rng)
    for _ in range(rng.randrange(3, 9)):
        log.line(ip, "GET", f"/products?id={rng.choice(SQLI)}", rng.choice((200, 500)), rng.randrange(200, 9000), SQLMAP,
                 gap=rng.uniform(0.05, 0.6))


def nikto(log, rng):
    ip = attacker_ip(rng)
    for path in rng.sample(NIKTO_PATHS, rng.randrange(3, 8)):
        log.line(ip, "GET", path, 404, 153, NIKTO.format(rng.randrange(1, 9999)), gap=rng.uniform(0.02, 0.3))


def blocked(log, rng):
    log.line(f"192.0.2.{rng.randrange(1, 255)}", "GET", rng.choice(("/", "/login", "/products")), 200, 4100,
             rng.choice(BROWSERS + ["curl/8.5.0"]))


def internal(log, rng):
    if rng.random() < 0.6:
        log.line(f"203.0.113.{rng.randrange(2, 40)}", "GET", "/internal/metrics", 200, 8712, "Prometheus/2.53.0")
    else:
        log.line(client_ip(rng), "GET", "/internal/metrics", 200, 8712, rng.choice(PROBE_AGENTS))


def malformed(log, rng):
    log.advance()
    ip = attacker_ip(rng)
    kind = rng.randrange(3)
    if kind == 0:  # a TLS ClientHello sent to the plain-HTTP port
        log.raw(f'{ip} - - [{log.stamp()}] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-"')
    elif kind == 1:  # connection opened, nothing sent
        log.raw(f'{ip} - - [{log.stamp()}] "-" 408 0 "-" "-"')
    else:  # a line cut off (disk full, a crash)
        log.raw(f'{ip} - - [{log.stamp()}] "GET /products/12 HTTP/1.')


EVENTS = [
    (browse, 52), (bot, 6), (api, 12), (login, 4), (login_burst, 0.6), (probe, 4), (admin, 3),
    (sqlmap, 0.8), (nikto, 0.6), (blocked, 1.2), (internal, 1.2), (malformed, 0.8),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=400, help="lines to write (default 400)")
    p.add_argument("--seed", type=int, default=5, help="random seed (default 5)")
    p.add_argument("-o", "--output", help="file to write (default stdout)")
    a = p.parse_args()
    rng = random.Random(a.seed)
    out = open(a.output, "w", buffering=1 << 20) if a.output else sys.stdout
    log = Log(rng, a.lines, out)
    funcs, weights = zip(*EVENTS)
    while log.left > 0:
        for f in rng.choices(funcs, weights, k=256):
            f(log, rng)
            if log.left <= 0:
                break
    if a.output:
        out.close()


if __name__ == "__main__":
    main()
