package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkHeaders asserts the security headers every response must carry.
func checkHeaders(t *testing.T, path string, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
		"object-src 'none'", "base-uri 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "data:", "blob:", "*", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP %q allows %q", path, csp, bad)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q", path, got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options = %q", path, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy = %q", path, got)
	}
	if len(h.Values("Set-Cookie")) != 0 {
		t.Errorf("%s: sets a cookie: %v", path, h.Values("Set-Cookie"))
	}
}

func TestServesEmbeddedFiles(t *testing.T) {
	h := Handler()
	assets := Assets()
	for path, want := range map[string]struct{ name, ctype string }{
		"/":            {"index.html", "text/html; charset=utf-8"},
		"/index.html":  {"index.html", "text/html; charset=utf-8"},
		"/console.js":  {"console.js", "text/javascript; charset=utf-8"},
		"/console.css": {"console.css", "text/css; charset=utf-8"},
		"/favicon.svg": {"favicon.svg", "image/svg+xml"},
	} {
		rec := get(t, h, http.MethodGet, path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
			continue
		}
		checkHeaders(t, path, rec)
		if got := rec.Header().Get("Content-Type"); got != want.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want.ctype)
		}
		body := rec.Body.String()
		if body == "" || body != string(assets[want.name]) {
			t.Errorf("GET %s: body is not the embedded %s (%d bytes)", path, want.name, len(body))
		}
		// Conditional GET: the ETag makes a revalidation a 304.
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		rec2 := get(t, h, http.MethodGet, path, map[string]string{"If-None-Match": etag})
		if rec2.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", path, rec2.Code)
		}
		checkHeaders(t, path+" (304)", rec2)
		head := get(t, h, http.MethodHead, path, nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d, %d body bytes", path, head.Code, head.Body.Len())
		}
	}
	for _, name := range []string{"index.html", "console.js", "console.css", "favicon.svg"} {
		if len(assets[name]) == 0 {
			t.Errorf("asset %s is not embedded", name)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/nope", "/static/console.js", "/../go.mod", "/api/v1/integrations", "/console.js/"} {
		rec := get(t, h, http.MethodGet, path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
		checkHeaders(t, path, rec)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		rec := get(t, h, m, "/", nil)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", m, rec.Code)
		}
		if rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: Allow %q", m, rec.Header().Get("Allow"))
		}
		checkHeaders(t, m+" /", rec)
	}
}

// The SVG namespace is a name, not a location: nothing is fetched from it.
var allowedURLs = map[string]bool{"http://www.w3.org/2000/svg": true}

var urlRe = regexp.MustCompile(`(?i)(?:https?:|wss?:|ftp:)?//[a-z0-9.-]+[^\s"'<>)]*`)

func TestNoExternalURLs(t *testing.T) {
	for name, b := range Assets() {
		s := string(b)
		if name == "console.js" {
			s = stripJSComments(s)
		}
		for _, u := range urlRe.FindAllString(s, -1) {
			if !allowedURLs[u] {
				t.Errorf("%s refers to %q: the console must not load anything from elsewhere", name, u)
			}
		}
		for _, bad := range []string{"@import", "url(", "data:", "javascript:"} {
			if strings.Contains(strings.ToLower(s), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	// Every src/href of the page is a relative path of the page itself.
	index := string(Assets()["index.html"])
	for _, m := range regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(index, -1) {
		switch m[1] {
		case "console.js", "console.css", "favicon.svg", "#main":
		default:
			t.Errorf("index.html refers to %q", m[1])
		}
	}
}

// stripJSComments drops // line comments that start a line (after spaces), so
// comment prose does not count as a URL; string contents are kept.
func stripJSComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "//") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestNoMarkupFromData is the grep-style guard of "every API value is
// rendered as text": the script never parses strings as markup or code.
func TestNoMarkupFromData(t *testing.T) {
	js := stripJSComments(string(Assets()["console.js"]))
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
		"new Function", "DOMParser", "createContextualFragment", "srcdoc", "setTimeout('", "setTimeout(\"",
		"setInterval('", "setInterval(\""} {
		if strings.Contains(js, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
	// Attributes are set from data only through el()/setAttribute of names
	// the script chooses; no event-handler attribute is ever set from a string.
	if regexp.MustCompile(`setAttribute\(\s*['"]on`).MatchString(js) {
		t.Error("console.js sets an on* attribute")
	}
	// The token is kept in the tab's session storage, never in localStorage or a cookie.
	if strings.Contains(js, "localStorage") || strings.Contains(js, "document.cookie") {
		t.Error("console.js uses localStorage or cookies")
	}
	if !strings.Contains(js, "sessionStorage") || !strings.Contains(js, "'Bearer '") {
		t.Error("console.js does not keep the token in sessionStorage / send it as a bearer token")
	}
	if !strings.Contains(js, "credentials: 'omit'") {
		t.Error("console.js fetches without credentials: 'omit'")
	}
}

// TestNoInlineScriptOrStyle: the CSP forbids inline code, so the page must
// not rely on any.
func TestNoInlineScriptOrStyle(t *testing.T) {
	index := string(Assets()["index.html"])
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(index, -1) {
		if !strings.Contains(m[1], `src="`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)<style`).MatchString(index) {
		t.Error("index.html has a <style> element")
	}
	if regexp.MustCompile(`(?i)\sstyle\s*=`).MatchString(index) {
		t.Error("index.html has a style attribute")
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).MatchString(index) {
		t.Error("index.html has an inline event handler")
	}
}

// TestFormLabels: every input, select and textarea of the page has a label.
func TestFormLabels(t *testing.T) {
	index := string(Assets()["index.html"])
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label[^>]*\bfor="([^"]+)"`).FindAllStringSubmatch(index, -1) {
		labels[m[1]] = true
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?s)<(input|select|textarea)\b([^>]*)>`).FindAllStringSubmatch(index, -1) {
		n++
		id := regexp.MustCompile(`\bid="([^"]+)"`).FindStringSubmatch(m[2])
		if id == nil {
			t.Errorf("%s without an id: %q", m[1], m[0])
			continue
		}
		if !labels[id[1]] {
			t.Errorf("%s #%s has no <label for>", m[1], id[1])
		}
	}
	if n < 15 {
		t.Errorf("found only %d form controls; the add form has more", n)
	}
	// The seed's fields are all there.
	for _, want := range []string{"Name", "MinIO API endpoint", "Bucket", "Access key", "Secret key", "JSON Array",
		"New Line Delimited JSON (NDJSON)", "Open Cybersecurity Schema Framework (OCSF)", "Regular notifications",
		"Hits in the last 10 minutes", "Test integration", "Add integration"} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if !regexp.MustCompile(`id="f-regular" type="checkbox" checked`).MatchString(index) {
		t.Error("the 10-minute regular notification is not on by default")
	}
}

// TestURLPattern: the pattern of TestNoExternalURLs finds the forms a
// reference to elsewhere takes (so a passing test means something).
func TestURLPattern(t *testing.T) {
	for _, s := range []string{`src="https://cdn.example.com/x.js"`, `fetch('http://evil.test/a')`,
		`href="//fonts.example.net/css"`, `ws://x.example/socket`} {
		if urlRe.FindString(s) == "" {
			t.Errorf("pattern misses %q", s)
		}
	}
	for _, s := range []string{`fetch('/api/v1/integrations')`, `href="console.css"`} {
		if u := urlRe.FindString(s); u != "" {
			t.Errorf("pattern finds %q in %q", u, s)
		}
	}
}

func TestMount(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"api":"` + r.Method + " " + r.URL.Path + `"}`))
	})
	h := Mount(api)
	for _, p := range []string{"/api/v1/integrations", "/api/v1/integrations/itg-1/test", "/api/v1/openapi.json", "/api/other"} {
		rec := get(t, h, http.MethodGet, p, nil)
		if want := `{"api":"GET ` + p + `"}`; rec.Body.String() != want {
			t.Errorf("GET %s: %q, want the API's %q", p, rec.Body.String(), want)
		}
		if rec.Header().Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: the API answer got the console's headers", p)
		}
	}
	if rec := get(t, h, http.MethodPost, "/api/v1/integrations", nil); rec.Body.String() != `{"api":"POST /api/v1/integrations"}` {
		t.Errorf("POST to the API: %q", rec.Body.String())
	}
	rec := get(t, h, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != string(Assets()["index.html"]) {
		t.Errorf("GET /: %d, not the console's page", rec.Code)
	}
	checkHeaders(t, "/", rec)
	if rec := get(t, h, http.MethodGet, "/elsewhere", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %d", rec.Code)
	}
}
