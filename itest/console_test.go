//go:build integration

package itest

// The integrations console (issue 13), driven in a real headless Chromium
// against a real admin API, the Kafka registry and the S3 server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hitexport/hitexport/gen"
)

// consoleServer is the server under test: the console at "/" and the admin
// API at "/api/v1/" of one address.
type consoleServer struct {
	URL   string // http://host:port, no trailing slash
	Token string // the admin token
	// DataPlane: hits produced to the integration's topic are delivered to
	// its bucket (false while the server under test has no data plane).
	DataPlane bool
	// logs returns the server's output, for failure messages.
	logs func() string
}

// api calls the admin API with the token, for the test's own checks.
func (s *consoleServer) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type apiIntegration struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Compression string `json:"compression"`
	Start       string `json:"start"`
	Destination struct {
		Bucket         string `json:"bucket"`
		CredentialsSet bool   `json:"credentials_set"`
	} `json:"destination"`
	Status struct {
		State        string `json:"state"`
		LastDelivery *struct {
			Key string `json:"key"`
		} `json:"last_delivery"`
	} `json:"status"`
}

func (s *consoleServer) list(t *testing.T) []apiIntegration {
	t.Helper()
	code, b := s.api(t, http.MethodGet, "/api/v1/integrations", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/integrations: %d %s", code, b)
	}
	var out struct {
		Integrations []apiIntegration `json:"integrations"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET /api/v1/integrations: %v: %s", err, b)
	}
	return out.Integrations
}

// chromiumPath finds the browser: HITEXPORT_IT_CHROMIUM, else Debian's
// chromium on the PATH (scripts/chromium.sh installs it).
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("HITEXPORT_IT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the console test needs Chromium: apt-get install chromium (scripts/chromium.sh), or set HITEXPORT_IT_CHROMIUM")
	return ""
}

// browser is one headless Chromium tab, recording every JavaScript error,
// exception and dialog of the page.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	mu   sync.Mutex
	errs []string // exceptions, console.error calls, CSP and other non-network errors
	net  []string // failed requests (expected ones: 401 and 422 answers)
	dlgs []string // alert/confirm/prompt dialogs (none expected)
	seq  int      // screenshot number
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, dir: filepath.Join(repoRoot, ".local", "screenshots", "console")}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(b.dir, "*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			switch {
			case m.IsException():
				b.errs = append(b.errs, fmt.Sprintf("exception at %s:%d: %s", m.URL, m.Line+1, m.Text))
			case m.Type == chromedp.ConsoleError && m.Source == "network":
				b.net = append(b.net, m.Text)
			case m.Type == chromedp.ConsoleError:
				b.errs = append(b.errs, fmt.Sprintf("console error (%s) at %s:%d: %s", m.Source, m.URL, m.Line+1, m.Text))
			}
			b.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dlgs = append(b.dlgs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// do runs actions with a timeout; on failure it saves a screenshot and stops the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed")
		b.t.Fatalf("%s: %v\n%s", what, err, b.report())
	}
}

// eval evaluates a JavaScript expression (the test's own probes of the DOM).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is truthy.
func (b *browser) waitJS(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.shot("failed")
		b.t.Fatalf("waiting for %s (%s): %v\n%s", what, expr, err, b.report())
	}
}

// shot saves a full-page PNG of the current state under .local/screenshots/console.
func (b *browser) shot(name string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.seq++
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.seq, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
	return p
}

// probeErrors proves the error listener hears the page: an exception thrown
// on purpose must be recorded (then it is forgotten).
func (b *browser) probeErrors() {
	b.t.Helper()
	b.do("probe the error listener", chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error('listener-probe') }, 0)`))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		for i, m := range b.errs {
			if strings.Contains(m, "listener-probe") {
				b.errs = append(b.errs[:i], b.errs[i+1:]...)
				b.mu.Unlock()
				return
			}
		}
		b.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("the error listener did not hear a thrown exception\n%s", b.report())
}

// viewShot saves what the window shows (no scrolling beyond it).
func (b *browser) viewShot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.seq++
	if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.seq, name)), png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

func (b *browser) report() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("page errors: %q\nfailed requests: %q\ndialogs: %q", b.errs, b.net, b.dlgs)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// rowJS is an expression for the list row whose name cell reads name.
func rowJS(name string) string {
	return `[...document.querySelectorAll('#rows tr')].find(tr => tr.querySelector('.c-name .name')?.textContent === ` + js(name) + `)`
}

// clear empties a field (chromedp's SetValue refuses the empty string).
func clear(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.getElementById(` + js(id) + `).value = ''`)
}

// fill types value into a field, clearing it first.
func (b *browser) fill(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(clear(id), chromedp.SendKeys(chromedp.ID(id), value))
}

func TestExportConsole(t *testing.T) {
	e := newEnv(t, 2)
	srv := startConsoleServer(t, e)
	b := newBrowser(t)
	suffix := e.name[len(e.name)-6:]
	name := "acme-prod-" + suffix
	hostileName := `<img src=x onerror=alert(1)>`

	// The page and its assets carry the security headers where the server
	// under test mounts them.
	for _, p := range []string{"/", "/console.js", "/console.css"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("GET %s: %d, CSP %q, nosniff %q, cookies %q", p, resp.StatusCode, csp,
				resp.Header.Get("X-Content-Type-Options"), resp.Header.Values("Set-Cookie"))
		}
	}

	// 1. Sign in: a wrong token is refused, the right one opens the list.
	b.do("open the console", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("signin-token")))
	b.probeErrors()
	b.shot("signin")
	b.do("sign in with a wrong token", chromedp.SendKeys(chromedp.ID("signin-token"), "not-the-token\n"))
	b.waitJS("the wrong token refused", `!document.getElementById('signin-error').hidden &&
		document.getElementById('signin-error').textContent.includes('not accepted') &&
		document.getElementById('list-view').hidden`, 10*time.Second)
	b.shot("signin-wrong-token")
	// The token is typed and submitted with the keyboard alone.
	b.do("sign in", clear("signin-token"), chromedp.Focus(chromedp.ID("signin-token")),
		chromedp.KeyEvent(srv.Token), chromedp.KeyEvent("\r"))
	b.waitJS("the list after sign-in", `!document.getElementById('list-view').hidden && !document.getElementById('empty').hidden`, 10*time.Second)
	if got := eval[string](b, `sessionStorage.getItem('hitexport.adminToken')`); got != srv.Token {
		t.Errorf("token in session storage = %q", got)
	}
	if c := eval[string](b, `document.cookie`); c != "" {
		t.Errorf("the console set cookies: %q", c)
	}
	b.shot("list-empty")

	// 2. Keyboard only: Tab from the heading reaches "Add integration", Enter opens the form on its first field.
	if got := eval[string](b, `document.activeElement.id`); got != "list-title" {
		t.Errorf("focus after sign-in on %q, want the list heading", got)
	}
	b.do("open the add form by keyboard", chromedp.KeyEvent("\t"))
	if got := eval[string](b, `document.activeElement.id`); got != "add-button" {
		t.Fatalf("Tab from the heading focuses %q, want add-button", got)
	}
	b.do("open the add form by keyboard", chromedp.KeyEvent("\r"))
	b.waitJS("the add form", `!document.getElementById('form-view').hidden && document.activeElement.id === 'f-name'`, 5*time.Second)
	// The seed's defaults: NDJSON, from now on, the 10-minute notification selected.
	if !eval[bool](b, `document.getElementById('f-regular').checked && document.getElementById('f-format-ndjson').checked && document.getElementById('f-start-latest').checked`) {
		t.Error("the add form's defaults are not NDJSON / from now / hits in the last 10 minutes selected")
	}
	// Name, endpoint, bucket, access key, secret key: typed, Tab between them.
	b.do("fill the form by keyboard", chromedp.KeyEvent(name), chromedp.KeyEvent("\t"), chromedp.KeyEvent(s3Addr),
		chromedp.KeyEvent("\t"), chromedp.KeyEvent(e.bucket.Name()), chromedp.KeyEvent("\t"), chromedp.KeyEvent(accessKey),
		chromedp.KeyEvent("\t"), chromedp.KeyEvent("wrong-"+secretKey))
	for id, want := range map[string]string{"f-name": name, "f-endpoint": s3Addr, "f-bucket": e.bucket.Name(), "f-access-key": accessKey, "f-secret-key": "wrong-" + secretKey} {
		if got := eval[string](b, `document.getElementById(`+js(id)+`).value`); got != want {
			t.Errorf("%s = %q after typing, want %q", id, got, want)
		}
	}
	b.do("set the topic", b.fill("f-topic", e.topic))

	// 3. A wrong secret: Test shows a failed step, and nothing is saved.
	b.do("test with a wrong secret", chromedp.Focus(chromedp.ID("test-button")), chromedp.KeyEvent("\r"))
	b.waitJS("the failed test", `document.querySelector('#test-result-body .summary')?.dataset.ok === 'false'`, 40*time.Second)
	failed := eval[[]string](b, `[...document.querySelectorAll('#test-result-body li[data-ok="false"]')].map(li => li.dataset.step + ': ' + li.textContent)`)
	if len(failed) == 0 || !(strings.HasPrefix(failed[0], "s3")) {
		t.Errorf("failed steps %q, want the s3 step", failed)
	}
	if strings.Contains(eval[string](b, `document.body.innerText`), "wrong-"+secretKey) {
		t.Error("the page shows the secret key")
	}
	b.shot("test-wrong-secret")
	if l := srv.list(t); len(l) != 0 {
		t.Fatalf("the failed test saved something: %+v", l)
	}

	// 4. A hostile name is refused next to its field, shown as text, and runs nothing.
	b.do("hostile name", b.fill("f-name", hostileName), b.fill("f-secret-key", secretKey), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the name error", `!document.getElementById('e-name').hidden && document.getElementById('f-name').getAttribute('aria-invalid') === 'true'`, 10*time.Second)
	if got := eval[string](b, `document.getElementById('f-name').value`); got != hostileName {
		t.Errorf("name field = %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('img').length`); n != 0 {
		t.Errorf("%d img elements in the page", n)
	}
	if eval[bool](b, `document.getElementById('test-stale').hidden`) {
		t.Error("the failed test result is not marked stale after the form changed")
	}
	b.shot("hostile-name-refused")
	if l := srv.list(t); len(l) != 0 {
		t.Fatalf("the hostile name was saved: %+v", l)
	}
	// A nested field's error (destination.bucket) goes next to that field; the old one goes away.
	b.do("bad bucket", b.fill("f-name", name), b.fill("f-bucket", "Not_A_Bucket"), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the bucket error", `!document.getElementById('e-destination.bucket').hidden && document.getElementById('e-name').hidden &&
		document.getElementById('f-bucket').getAttribute('aria-invalid') === 'true' && document.activeElement.id === 'f-bucket'`, 10*time.Second)
	if l := srv.list(t); len(l) != 0 {
		t.Fatalf("the bad bucket was saved: %+v", l)
	}
	b.do("good bucket", b.fill("f-bucket", e.bucket.Name()))

	// 5. The right secret: every step passes; Add shows the row as active.
	b.do("test with the right secret", chromedp.Click(chromedp.ID("test-button")))
	b.waitJS("the passed test", `document.querySelector('#test-result-body .summary')?.dataset.ok === 'true' && document.getElementById('test-stale').hidden`, 40*time.Second)
	steps := eval[[]string](b, `[...document.querySelectorAll('#test-result-body li')].map(li => li.dataset.step + '=' + li.dataset.ok)`)
	if len(steps) < 3 || strings.Contains(strings.Join(steps, " "), "=false") {
		t.Errorf("steps %q, want every step passed", steps)
	}
	b.shot("test-passed")
	// The topic is new and empty: starting from its earliest hit makes the
	// delivery step below independent of when the data plane picks the
	// integration up (and shows the start choice reaches the API).
	b.do("add", chromedp.Click(chromedp.ID("f-start-earliest")), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the new row, active", `!document.getElementById('list-view').hidden && `+rowJS(name)+`?.dataset.state === 'active'`, 20*time.Second)
	// Layout: the row sits in the visible table, its name in the first column, within the window.
	layout := eval[map[string]any](b, `(() => { const tr = `+rowJS(name)+`; const td = tr.querySelector('.c-name');
		const r = td.getBoundingClientRect(); return {first: tr.firstElementChild === td, visible: r.width > 0 && r.height > 0,
		inside: r.left >= 0 && r.right <= window.innerWidth, table: !document.getElementById('list-wrap').hidden,
		badge: tr.querySelector('.c-state .badge').textContent, dest: tr.querySelector('.c-dest').textContent,
		scroll: document.documentElement.scrollWidth <= window.innerWidth}; })()`)
	for _, k := range []string{"first", "visible", "inside", "table", "scroll"} {
		if layout[k] != true {
			t.Errorf("layout of the new row: %s is %v (%v)", k, layout[k], layout)
		}
	}
	if layout["badge"] != "active" || !strings.Contains(fmt.Sprint(layout["dest"]), e.bucket.Name()) || !strings.Contains(fmt.Sprint(layout["dest"]), s3Addr) {
		t.Errorf("row shows state %v, destination %v", layout["badge"], layout["dest"])
	}
	if txt := eval[string](b, rowJS(name)+`.textContent`); strings.Contains(txt, accessKey) || strings.Contains(txt, secretKey) {
		t.Errorf("the row shows a key: %q", txt)
	}
	saved := srv.list(t)
	if len(saved) != 1 || saved[0].Name != name || !saved[0].Enabled || !saved[0].Destination.CredentialsSet || saved[0].Start != "earliest" {
		t.Fatalf("saved: %+v", saved)
	}
	id := saved[0].ID
	row := func(action string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`#rows tr[data-id=%s] button[data-action=%s]`, js(id), action))
	}
	b.shot("list-active")

	// 6. A hostile value from the API (a filter value) renders as text.
	hostileItg := "hostile-filter-" + suffix
	b.do("add the second integration", chromedp.Click(chromedp.ID("add-button")), chromedp.WaitVisible(chromedp.ID("f-name")),
		b.fill("f-name", hostileItg), b.fill("f-endpoint", s3Addr), b.fill("f-bucket", e.bucket.Name()),
		b.fill("f-access-key", accessKey), b.fill("f-secret-key", secretKey), b.fill("f-topic", e.topic),
		// Its own key prefix: two integrations on the same bucket and prefix
		// would write the same keys (the exporter runs only the first).
		chromedp.Evaluate[chromedp.Void](`document.getElementById('f-advanced').open = true`), b.fill("f-prefix", "hostile/"),
		chromedp.Click(chromedp.ID("add-match")), chromedp.SendKeys(chromedp.CSS("#matches .m-field"), "domain"),
		chromedp.SendKeys(chromedp.CSS("#matches .m-values"), `"`+hostileName+`"`),
		chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the second row", rowJS(hostileItg)+`?.dataset.state === 'active'`, 20*time.Second)
	if got := eval[string](b, rowJS(hostileItg)+`.querySelector('.c-format').textContent`); !strings.Contains(got, `domain = "`+hostileName+`"`) {
		t.Errorf("the hostile filter value shows as %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('img').length`); n != 0 {
		t.Errorf("%d img elements in the page", n)
	}
	b.shot("list-hostile-value")
	// That one has served its purpose; a second ordinary integration (added
	// through the API) makes the list of the screenshots a realistic one.
	for _, it := range srv.list(t) {
		if it.Name == hostileItg {
			if code, body := srv.api(t, http.MethodDelete, "/api/v1/integrations/"+it.ID, nil); code != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %s", it.ID, code, body)
			}
		}
	}
	other := "beta-eu-" + suffix
	if code, body := srv.api(t, http.MethodPost, "/api/v1/integrations", map[string]any{
		"name": other, "format": "json", "compression": "zstd", "key_prefix": "waf/{yyyy}/{mm}/{dd}/",
		"destination": map[string]any{"endpoint": s3Addr, "bucket": e.bucket.Name(), "access_key": accessKey, "secret_key": secretKey},
		"filter":      map[string]any{"topic": e.topic, "match": map[string]any{"application_id": []int{1, 2}}},
	}); code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", other, code, body)
	}
	b.waitJS("the list refreshed on its own", `!`+rowJS(hostileItg)+` && `+rowJS(other)+`?.dataset.state === 'active'`, 10*time.Second)

	// 7. Hits produced appear as the row's last delivery (needs the data plane).
	t.Run("delivery", func(t *testing.T) {
		if !srv.DataPlane {
			t.Skip("PENDING: the server under test has no data plane yet (startConsoleServer composes the admin API in-process); runs once it starts bin/hitexport run")
		}
		e.produce(gen.Generate(pastHour(13, 300)))
		b.waitJS("a last delivery", rowJS(name)+`?.querySelector('.c-delivery .key')?.textContent.includes('hitlogs-')`, 2*time.Minute)
		b.shot("list-delivered")
		if n := e.objectCount(); n == 0 {
			t.Error("the row shows a delivery but the bucket is empty")
		}
	})

	// 8. The row's own test passes with the stored keys.
	b.do("row test", chromedp.Click(row("test")))
	b.waitJS("the row test result", `!document.getElementById('row-test').hidden && document.querySelector('#row-test-result .summary')?.dataset.ok === 'true'`, 40*time.Second)
	b.shot("row-test")

	// 9. Disable and enable change the state.
	b.do("disable", chromedp.Click(row("disable")))
	b.waitJS("disabled", rowJS(name)+`?.dataset.state === 'disabled' && `+rowJS(name)+`.querySelector('.c-state .badge').textContent === 'disabled'`, 15*time.Second)
	if l := srv.list(t); len(l) != 2 || findByName(l, name).Enabled || findByName(l, name).Status.State != "disabled" || findByName(l, other).Status.State != "active" {
		t.Errorf("after disable: %+v", l)
	}
	b.shot("disabled")
	// Enable asks where to resume; the default is where it stopped.
	b.do("enable", chromedp.Click(row("enable")))
	b.waitJS("the enable dialog", `document.getElementById('enable-dialog').open && document.getElementById('resume-stopped').checked &&
		document.getElementById('enable-title').textContent.includes(`+js(name)+`) && document.activeElement.id === 'enable-ok'`, 5*time.Second)
	b.shot("enable-dialog")
	if !srv.DataPlane {
		// Without the data plane the API has no positions to move: it refuses
		// "from now on"; the dialog says so and nothing changes.
		b.do("enable from now", chromedp.Click(chromedp.ID("resume-latest")), chromedp.Click(chromedp.ID("enable-ok")))
		b.waitJS("the refusal in the dialog", `document.getElementById('enable-dialog').open && !document.getElementById('enable-error').hidden &&
			document.getElementById('enable-error').textContent.includes('latest')`, 10*time.Second)
		if it := findByName(srv.list(t), name); it.Enabled {
			t.Error("a refused enable enabled the integration")
		}
		b.do("back to where it stopped", chromedp.Click(chromedp.ID("resume-stopped")), chromedp.Focus(chromedp.ID("enable-ok")))
	}
	b.do("confirm enable by keyboard", chromedp.KeyEvent("\r"))
	b.waitJS("enabled again", `!document.getElementById('enable-dialog').open && `+rowJS(name)+`?.dataset.state === 'active'`, 15*time.Second)
	if it := findByName(srv.list(t), name); !it.Enabled || it.Status.State != "active" {
		t.Errorf("after enable: %+v", it)
	}
	b.shot("enabled")

	// 10. Edit: the keys left blank keep the stored ones; the change is saved.
	b.do("edit", chromedp.Click(row("edit")))
	b.waitJS("the edit form", `!document.getElementById('form-view').hidden && document.getElementById('f-name').value === `+js(name)+
		` && document.getElementById('f-secret-key').value === '' && document.getElementById('f-access-key').value === ''`, 10*time.Second)
	b.do("change compression", chromedp.SetValue(chromedp.ID("f-compression"), "gzip"))
	b.shot("edit-form")
	b.do("save", chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the saved change", rowJS(name)+`?.querySelector('.c-format').textContent.includes('gzip')`, 15*time.Second)
	if it := findByName(srv.list(t), name); it.Compression != "gzip" || !it.Destination.CredentialsSet {
		t.Errorf("after edit: %+v", it)
	}
	b.do("row test after edit", chromedp.Click(row("test")))
	b.waitJS("the row test after edit (stored keys kept)", `document.querySelector('#row-test-result .summary')?.dataset.ok === 'true'`, 40*time.Second)
	// The list as a user sees it in a 1280×800 window (docs/console-list.png).
	b.do("close the test panel", chromedp.Click(chromedp.ID("row-test-close")), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.viewShot("list-1280x800")

	// The edit form shows a saved filter as it was entered.
	otherID := findByName(srv.list(t), other).ID
	b.do("edit the other", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#rows tr[data-id=%s] button[data-action=edit]`, js(otherID)))))
	b.waitJS("its filter in the form", `!document.getElementById('form-view').hidden &&
		document.querySelector('#matches .m-field')?.value === 'application_id' && document.querySelector('#matches .m-values').value === '1, 2' &&
		document.getElementById('f-format-json').checked && document.getElementById('f-compression').value === 'zstd' &&
		document.getElementById('f-prefix').value === 'waf/{yyyy}/{mm}/{dd}/' && document.getElementById('f-advanced').open`, 10*time.Second)
	b.do("cancel the edit", chromedp.Click(chromedp.ID("cancel-button")), chromedp.WaitVisible(chromedp.ID("list-title")))

	// 11. Readable at 390×844: no sideways scrolling, the row and the form fit.
	b.do("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Sleep(300*time.Millisecond))
	if !eval[bool](b, `document.documentElement.scrollWidth <= 390 && `+rowJS(name)+`.getBoundingClientRect().right <= 390`) {
		t.Errorf("the list does not fit 390 px: scrollWidth %d", eval[int](b, `document.documentElement.scrollWidth`))
	}
	b.shot("list-390")
	b.do("phone form", chromedp.Click(chromedp.ID("add-button")), chromedp.WaitVisible(chromedp.ID("f-name")))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the form is %d px wide at 390", w)
	}
	b.shot("form-390")
	b.do("back to the list", chromedp.Click(chromedp.ID("cancel-button")), chromedp.EmulateViewport(1280, 800), chromedp.Sleep(300*time.Millisecond))

	// 12. Delete asks first, naming the integration; Escape keeps it, confirming removes it.
	b.do("delete", chromedp.Click(row("delete")))
	b.waitJS("the confirmation", `document.getElementById('confirm-dialog').open && document.getElementById('confirm-text').textContent.includes(`+js("“"+name+"”")+`)`, 5*time.Second)
	b.shot("delete-confirm")
	b.do("cancel with Escape", chromedp.KeyEvent(kb.Escape))
	b.waitJS("the dialog closed", `!document.getElementById('confirm-dialog').open`, 5*time.Second)
	if len(srv.list(t)) != 2 {
		t.Fatal("Escape deleted the integration")
	}
	b.do("delete again", chromedp.Click(row("delete")), chromedp.WaitVisible(chromedp.ID("confirm-ok")), chromedp.Click(chromedp.ID("confirm-ok")))
	b.waitJS("the row removed", `!document.getElementById('confirm-dialog').open && !`+rowJS(name), 15*time.Second)
	if l := srv.list(t); len(l) != 1 || l[0].Name != other {
		t.Errorf("after delete: %+v", l)
	}
	time.Sleep(3500 * time.Millisecond) // one refresh later the row is still gone
	if eval[bool](b, `!!`+rowJS(name)) {
		t.Error("the deleted row came back")
	}
	b.shot("deleted")

	// 13. Sign out forgets the token.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-token")))
	if got := eval[string](b, `sessionStorage.getItem('hitexport.adminToken') || ''`); got != "" {
		t.Errorf("token kept after sign-out: %q", got)
	}

	// No JavaScript error, exception or dialog during the whole run.
	time.Sleep(500 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 || len(b.dlgs) > 0 {
		t.Errorf("JavaScript errors: %q; dialogs: %q", b.errs, b.dlgs)
	}
	t.Logf("screenshots in %s; expected failed requests (401/422): %d", b.dir, len(b.net))
	for _, m := range b.net {
		if !strings.Contains(m, "401") && !strings.Contains(m, "422") {
			t.Errorf("unexpected failed request: %s", m)
		}
	}
}

func findByName(l []apiIntegration, name string) apiIntegration {
	for _, it := range l {
		if it.Name == name {
			return it
		}
	}
	return apiIntegration{}
}

// startConsoleServer starts the server under test for env e: bin/hitexport
// run with HITEXPORT_REGISTRY=kafka (a registry topic of its own) and
// HITEXPORT_ADMIN_ADDR/HITEXPORT_ADMIN_TOKEN_FILE: the console at "/" and
// the admin API at "/api/v1/" of one address, data plane included. It is
// stopped when the test ends.
func startConsoleServer(t *testing.T, e *env) *consoleServer {
	t.Helper()
	return startConsoleBinary(t, e)
}

func startConsoleBinary(t *testing.T, e *env) *consoleServer {
	t.Helper()
	dir := t.TempDir()
	token := randomHex(t, 24)
	tokenFile := filepath.Join(dir, "admin-token")
	keyFile := filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(randomHex(t, 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	x := e.start(map[string]string{
		"HITEXPORT_REGISTRY":         "kafka",
		"HITEXPORT_REGISTRY_TOPIC":   "hitexport.integrations." + e.name,
		"HITEXPORT_SECRETS_KEY_FILE": keyFile,
		"HITEXPORT_ADMIN_ADDR":       addr,
		"HITEXPORT_ADMIN_TOKEN_FILE": tokenFile,
	}, "run")
	s := &consoleServer{URL: "http://" + addr, Token: token, DataPlane: true, logs: x.out.String}
	waitConsoleUp(t, s)
	return s
}

// waitConsoleUp waits until the page and the API answer.
func waitConsoleUp(t *testing.T, s *consoleServer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/integrations", nil)
				req.Header.Set("Authorization", "Bearer "+s.Token)
				if r2, err := http.DefaultClient.Do(req); err == nil {
					r2.Body.Close()
					if r2.StatusCode == http.StatusOK {
						return
					}
					last = "GET /api/v1/integrations: " + r2.Status
				} else {
					last = err.Error()
				}
			} else {
				last = "GET /: " + resp.Status
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs := ""
	if s.logs != nil {
		logs = tail(s.logs(), 3000)
	}
	t.Fatalf("the console server did not come up: %s\n%s", last, logs)
}
