"""Headless Chromium on examples/posts' /docs/: logs in through Swagger UI's "Authorize" (the
OAuth2 password flow on /token, a real login), closes the dialog and screenshots the page.
Run by scripts/docs-screenshot: docs-screenshot.py BASE USER PASSWORD OUT.png"""
import base64, json, socket, subprocess, sys, tempfile, time, urllib.request
import websocket

base, user, password, out = sys.argv[1:5]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
profile = tempfile.mkdtemp()
chrome = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
    f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--window-size=1280,1700",
    "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
            page = next(t for t in targets if t["type"] == "page")
            break
        except Exception:
            time.sleep(0.1)
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True)
    ids = iter(range(1, 10**6))
    def call(method, **params):
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(ws.recv())
            if msg.get("id") == i:
                return msg.get("result", msg)
    def js(expr):
        r = call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        return r.get("result", {}).get("value")
    def wait(expr, what, seconds=15):
        for _ in range(seconds * 10):
            if js(expr):
                return
            time.sleep(0.1)
        raise SystemExit(f"timed out waiting for {what}")
    call("Page.enable")
    call("Page.navigate", url=f"{base}/docs/")
    wait("!!document.querySelector('.btn.authorize')", "the Authorize button")
    js("document.querySelector('.btn.authorize').click()")
    wait("!!document.querySelector('#oauth_username')", "the password-flow form")
    fill = """(sel, value) => { const el = document.querySelector(sel);
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
        set.call(el, value); el.dispatchEvent(new Event('input', {bubbles: true}));
        el.dispatchEvent(new Event('change', {bubbles: true})); }"""
    js(f"({fill})('#oauth_username', {json.dumps(user)})")
    js(f"({fill})('#oauth_password', {json.dumps(password)})")
    # The oauth2 section's own Authorize button (the modal's submit for that scheme).
    js("""[...document.querySelectorAll('.auth-container')].find(c => c.querySelector('#oauth_username'))
          .querySelector('button.authorize').click()""")
    wait("[...document.querySelectorAll('.auth-container')].some(c => /Logout/.test(c.innerText) && c.querySelector('#oauth_username') === null)",
         "the logged-in state")
    time.sleep(0.3)
    js("document.querySelector('.modal-ux .close-modal').click()")
    time.sleep(0.5)
    shot = call("Page.captureScreenshot", format="png")
    open(out, "wb").write(base64.b64decode(shot["data"]))
    print("logged in as", user, "through the password flow")
finally:
    chrome.kill()
