package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/registry"
)

const testToken = "test-token-0123456789abcdef"

type fakeStatus struct {
	mu sync.Mutex
	m  map[string]integrations.RuntimeStatus
}

func (f *fakeStatus) Status(id string) (integrations.RuntimeStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rt, ok := f.m[id]
	return rt, ok
}

type fakePositions struct {
	mu     sync.Mutex
	resets []string
	forgot []string
	fail   error
}

func (f *fakePositions) ResetToLatest(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.resets = append(f.resets, id)
	return nil
}

func (f *fakePositions) Forget(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, id)
	return nil
}

// fakeTester reports the four steps; s3 fails for bucket "missing". It
// records the secret it was given, to prove it gets the stored one.
type fakeTester struct {
	mu        sync.Mutex
	gotSecret string
}

func (f *fakeTester) test(ctx context.Context, it integrations.Integration) TestResult {
	f.mu.Lock()
	f.gotSecret = it.Destination.SecretKey
	f.mu.Unlock()
	res := TestResult{OK: true, Steps: []TestStep{{"config", true, "format " + it.Format}, {"kafka", true, "topic " + it.Filter.Topic + " present"}}}
	if it.Destination.Bucket == "missing" {
		res.OK = false
		res.Steps = append(res.Steps, TestStep{"s3", false, "bucket \"missing\" not found"})
		return res
	}
	res.Steps = append(res.Steps, TestStep{"s3", true, "bucket exists"}, TestStep{"s3-write", true, "test object written"})
	return res
}

type fixture struct {
	t      *testing.T
	h      *Handler
	srv    *httptest.Server
	reg    registry.Registry
	status *fakeStatus
	pos    *fakePositions
	tester *fakeTester
	logs   *bytes.Buffer
	// every (method pattern status) answered, for the OpenAPI test
	seen   map[string]map[int]bool
	mu     sync.Mutex
	events []integrations.Event
}

func newFixture(t *testing.T, reg registry.Registry) *fixture {
	t.Helper()
	if reg == nil {
		reg = registry.NewMemory()
	}
	f := &fixture{t: t, reg: reg, status: &fakeStatus{m: map[string]integrations.RuntimeStatus{}}, pos: &fakePositions{}, tester: &fakeTester{},
		logs: &bytes.Buffer{}, seen: map[string]map[int]bool{}}
	h, err := NewHandler(Options{Registry: reg, Token: testToken, Defaults: integrations.Defaults{Topic: "hits"}, Tester: f.tester.test,
		Status: f.status, Positions: f.pos, MaxBodyBytes: 64 << 10,
		Notify: func(url string, ev integrations.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if url != "https://hooks.example.com/x" {
				t.Errorf("notify url %q", url)
			}
			f.events = append(f.events, ev)
		}, Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.observe = func(method, pattern string, status int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		k := method + " " + pattern
		if f.seen[k] == nil {
			f.seen[k] = map[int]bool{}
		}
		f.seen[k][status] = true
	}
	f.h = h
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status int
	body   []byte
	header http.Header
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
}

func (a answer) errBody(t *testing.T) ErrorDetail {
	t.Helper()
	var e ErrorBody
	a.json(t, &e)
	return e.Error
}

func (f *fixture) do(method, path, body string, token ...string) answer {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	tok := testToken
	if len(token) > 0 {
		tok = token[0]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, b, res.Header}
}

const secretAK, secretSK = "AKIAFIXTURE000", "fixture-secret-value-xyz"

func createBody(name string) string {
	return `{"name":"` + name + `","destination":{"endpoint":"127.0.0.1:9000","bucket":"acme","access_key":"` + secretAK + `","secret_key":"` + secretSK + `"},` +
		`"format":"ndjson","compression":"gzip","key_prefix":"waf/","filter":{"match":{"application_id":[1,2],"domain":["a.example"]}}}`
}

func (f *fixture) create(name string) integrations.Integration {
	f.t.Helper()
	a := f.do("POST", "/api/v1/integrations", createBody(name))
	if a.status != 201 {
		f.t.Fatalf("create: %d %s", a.status, a.body)
	}
	var it integrations.Integration
	a.json(f.t, &it)
	return it
}

// noSecrets fails when any body holds a secret.
func noSecrets(t *testing.T, bodies ...[]byte) {
	t.Helper()
	for _, b := range bodies {
		for _, s := range []string{secretAK, secretSK, "new-secret-value-123", secretExtID, "ext-rotated-42"} {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("a secret in a response body: %s", b)
			}
		}
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	for _, tok := range []string{"", "wrong-token-0123456789abcdef", testToken + "x", testToken[:10]} {
		for _, rt := range [][2]string{{"GET", "/api/v1/integrations"}, {"POST", "/api/v1/integrations"}, {"GET", "/api/v1/integrations/x"},
			{"PATCH", "/api/v1/integrations/x"}, {"DELETE", "/api/v1/integrations/x"}, {"POST", "/api/v1/integrations/x/test"}, {"POST", "/api/v1/integrations/test"}} {
			a := f.do(rt[0], rt[1], "{}", tok)
			if a.status != 401 || a.errBody(t).Code != "unauthorized" || a.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s %s with token %q: %d %s", rt[0], rt[1], tok, a.status, a.body)
			}
		}
	}
	if a := f.do("GET", "/api/v1/integrations", "", "  "+testToken); a.status != 200 {
		t.Fatalf("right token: %d", a.status)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/integrations", nil)
	req.Header.Set("Authorization", "bearer "+testToken)
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 200 {
		t.Fatalf("the scheme is case-insensitive: %d", res.StatusCode)
	}
	if a := f.do("GET", "/api/v1/openapi.json", "", ""); a.status != 200 || !json.Valid(a.body) {
		t.Fatalf("openapi.json is public: %d", a.status)
	}
	if _, err := NewHandler(Options{Registry: registry.NewMemory(), Tester: (&fakeTester{}).test}); err == nil || !strings.Contains(err.Error(), "HITEXPORT_ADMIN_TOKEN_FILE") {
		t.Fatalf("handler without token: %v", err)
	}
}

func TestCRUD(t *testing.T) {
	f := newFixture(t, nil)
	it := f.create("acme-prod")
	if !strings.HasPrefix(it.ID, "itg-") || !it.Enabled || it.Status == nil || it.Status.State != "active" || it.Compression != "gzip" || it.Filter.Topic != "hits" {
		t.Fatalf("created: %+v", it)
	}
	a := f.do("GET", "/api/v1/integrations/"+it.ID, "")
	var raw map[string]any
	a.json(t, &raw)
	dest := raw["destination"].(map[string]any)
	if dest["credentials_set"] != true || dest["access_key"] != nil || dest["secret_key"] != nil {
		t.Fatalf("destination: %v", dest)
	}
	st := raw["status"].(map[string]any)
	for _, k := range []string{"state", "reason", "last_delivery", "last_error", "failure_ratio", "lag_records", "oldest_undelivered", "lost_records"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %s: %v", k, st)
		}
	}
	bodies := [][]byte{a.body}

	// runtime status from the data plane
	now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	f.status.m[it.ID] = integrations.RuntimeStatus{Failing: true, LastError: &integrations.ErrorInfo{Time: now, Class: "auth", Message: "access denied"},
		FailureRatio: 0.5, LagRecords: 42, OldestUndelivered: &now, LastDelivery: &integrations.Delivery{Time: now, Key: "waf/hitlogs-1.ndjson.gz"}}
	a = f.do("GET", "/api/v1/integrations", "")
	var list IntegrationList
	a.json(t, &list)
	bodies = append(bodies, a.body)
	if len(list.Integrations) != 1 || list.Integrations[0].Status.State != "failing" || list.Integrations[0].Status.LagRecords != 42 ||
		list.Integrations[0].Status.LastError.Class != "auth" || list.Integrations[0].Status.LastDelivery.Key == "" {
		t.Fatalf("list: %s", a.body)
	}

	// 409 duplicate name
	a = f.do("POST", "/api/v1/integrations", createBody("acme-prod"))
	if e := a.errBody(t); a.status != 409 || e.Code != "conflict" || e.Field != "name" {
		t.Fatalf("duplicate: %d %s", a.status, a.body)
	}
	// PATCH partial keeps the secrets and other fields
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"format":"json","destination":{"bucket":"acme2","access_key":""}}`)
	if a.status != 200 {
		t.Fatalf("patch: %d %s", a.status, a.body)
	}
	bodies = append(bodies, a.body)
	stored, _ := f.reg.Get(context.Background(), it.ID)
	if stored.Destination.AccessKey != secretAK || stored.Destination.SecretKey != secretSK || stored.Destination.Bucket != "acme2" ||
		stored.Format != "json" || stored.Compression != "gzip" || stored.KeyPrefix != "waf/" || len(stored.Filter.Match) != 2 {
		t.Fatalf("after patch: %+v", stored)
	}
	// a new secret replaces the old one, and is not echoed
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"destination":{"secret_key":"new-secret-value-123"}}`)
	bodies = append(bodies, a.body)
	if stored, _ = f.reg.Get(context.Background(), it.ID); stored.Destination.SecretKey != "new-secret-value-123" {
		t.Fatal("secret not rotated")
	}
	// a second integration cannot take the name
	other := f.create("other")
	a = f.do("PATCH", "/api/v1/integrations/"+other.ID, `{"name":"acme-prod"}`)
	if a.status != 409 || a.errBody(t).Field != "name" {
		t.Fatalf("rename onto a taken name: %d %s", a.status, a.body)
	}
	// DELETE 204 then 404; positions forgotten
	if a = f.do("DELETE", "/api/v1/integrations/"+other.ID, ""); a.status != 204 || len(a.body) != 0 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	if a = f.do("DELETE", "/api/v1/integrations/"+other.ID, ""); a.status != 404 || a.errBody(t).Code != "not_found" {
		t.Fatalf("second delete: %d", a.status)
	}
	if a = f.do("GET", "/api/v1/integrations/"+other.ID, ""); a.status != 404 {
		t.Fatalf("get after delete: %d", a.status)
	}
	if len(f.pos.forgot) != 1 || f.pos.forgot[0] != other.ID {
		t.Fatalf("Forget calls: %v", f.pos.forgot)
	}
	noSecrets(t, bodies...)
	noSecrets(t, f.logs.Bytes())
}

func TestEnableDisableResume(t *testing.T) {
	f := newFixture(t, nil)
	it := f.create("acme")
	var got integrations.Integration
	a := f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":false}`)
	a.json(t, &got)
	if got.Enabled || got.Status.State != "disabled" || got.Status.Reason == "" {
		t.Fatalf("disable: %s", a.body)
	}
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"resume":"latest"}`)
	if a.status != 422 || a.errBody(t).Field != "resume" {
		t.Fatalf("resume without enabled: %d %s", a.status, a.body)
	}
	// enable, resuming where it stopped: no reset
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":true}`)
	a.json(t, &got)
	if !got.Enabled || got.Status.State != "active" || len(f.pos.resets) != 0 {
		t.Fatalf("enable: %s resets %v", a.body, f.pos.resets)
	}
	// auto-disabled by the data plane
	if err := f.reg.SetDisabled(context.Background(), it.ID, integrations.DisabledByAuto, "60% of uploads failed within 12h"); err != nil {
		t.Fatal(err)
	}
	a = f.do("GET", "/api/v1/integrations/"+it.ID, "")
	a.json(t, &got)
	if got.Status.State != "auto_disabled" || !strings.Contains(got.Status.Reason, "60%") {
		t.Fatalf("auto-disabled: %s", a.body)
	}
	// a failing reset keeps it disabled
	f.pos.fail = errors.New("broker down")
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":true,"resume":"latest"}`)
	if a.status != 503 {
		t.Fatalf("reset failure: %d %s", a.status, a.body)
	}
	if cur, _ := f.reg.Get(context.Background(), it.ID); cur.Enabled {
		t.Fatal("enabled although the reset failed")
	}
	f.pos.fail = nil
	a = f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":true,"resume":"latest"}`)
	a.json(t, &got)
	if a.status != 200 || !got.Enabled || len(f.pos.resets) != 1 || f.pos.resets[0] != it.ID {
		t.Fatalf("resume latest: %d %s resets %v", a.status, a.body, f.pos.resets)
	}
}

func TestValidationAndMalformed(t *testing.T) {
	f := newFixture(t, nil)
	it := f.create("acme")
	cases := []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		{"POST", "/api/v1/integrations", `{"name":`, 400, "bad_request", ""},
		{"POST", "/api/v1/integrations", ``, 400, "bad_request", ""},
		{"POST", "/api/v1/integrations", `[1]`, 400, "bad_request", ""},
		{"POST", "/api/v1/integrations", `{"name":"x"} {}`, 400, "bad_request", ""},
		{"POST", "/api/v1/integrations", `{"name":"x","colour":"red"}`, 400, "bad_request", "colour"},
		{"POST", "/api/v1/integrations", `{"name":"x","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s","region2":"x"}}`, 400, "bad_request", "region2"},
		{"POST", "/api/v1/integrations", `{"name":"x","enabled":"yes"}`, 422, "invalid", "enabled"},
		{"POST", "/api/v1/integrations", `{"name":"x","destination":{"tls":"yes"}}`, 422, "invalid", "destination.tls"},
		{"POST", "/api/v1/integrations", `{"name":"x","destination":{"endpoint":"h","bucket":"Bad_Bucket","access_key":"a","secret_key":"s"}}`, 422, "invalid", "destination.bucket"},
		{"POST", "/api/v1/integrations", `{"name":"x","destination":{"endpoint":"h","bucket":"acme","access_key":"a"}}`, 422, "invalid", "destination.secret_key"},
		{"POST", "/api/v1/integrations", `{"name":"x","filter":{"match":{"application_id":[]}},"destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, 422, "invalid", "filter.match.application_id"},
		{"POST", "/api/v1/integrations", `{"name":"x","start":"soon","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, 422, "invalid", "start"},
		{"POST", "/api/v1/integrations", `{"name":"x","big":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "too_large", ""},
		{"PATCH", "/api/v1/integrations/" + it.ID, `{"format":"xml"}`, 422, "invalid", "format"},
		{"PATCH", "/api/v1/integrations/" + it.ID, `{"destination":{"endpoint":"https://x"}}`, 422, "invalid", "destination.endpoint"},
		{"PATCH", "/api/v1/integrations/" + it.ID, `nope`, 400, "bad_request", ""},
		{"PATCH", "/api/v1/integrations/itg-none", `{"format":"json"}`, 404, "not_found", ""},
		{"GET", "/api/v1/integrations/itg-none", ``, 404, "not_found", ""},
		{"POST", "/api/v1/integrations/itg-none/test", ``, 404, "not_found", ""},
		{"GET", "/api/v1/nothing", ``, 404, "not_found", ""},
		{"PUT", "/api/v1/integrations/" + it.ID, `{}`, 405, "method_not_allowed", ""},
		{"POST", "/api/v1/integrations/test", `{"name":"x","destination":{"endpoint":"h","bucket":"acme"}}`, 422, "invalid", "destination.access_key"},
	}
	for _, c := range cases {
		a := f.do(c.method, c.path, c.body)
		e := a.errBody(t)
		if a.status != c.status || e.Code != c.code || e.Field != c.field || e.Message == "" {
			t.Errorf("%s %s %.60s: got %d %s, want %d %s field %q", c.method, c.path, c.body, a.status, a.body, c.status, c.code, c.field)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: content type %q", c.method, c.path, ct)
		}
	}
	// nothing was stored by the refused requests
	if l, _ := f.reg.List(context.Background()); len(l) != 1 || l[0].Format != "ndjson" {
		t.Fatalf("refused requests changed the registry: %+v", l)
	}
}

func TestTestEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	it := f.create("acme")
	var res TestResult
	a := f.do("POST", "/api/v1/integrations/"+it.ID+"/test", "")
	a.json(t, &res)
	if a.status != 200 || !res.OK || len(res.Steps) != 4 || res.Steps[0].Step != "config" || res.Steps[3].Step != "s3-write" {
		t.Fatalf("test stored: %d %s", a.status, a.body)
	}
	if f.tester.gotSecret != secretSK {
		t.Fatal("the tester must get the stored secret")
	}
	body := strings.Replace(createBody("unsaved"), `"bucket":"acme"`, `"bucket":"missing"`, 1)
	a = f.do("POST", "/api/v1/integrations/test", body)
	res = TestResult{}
	a.json(t, &res)
	if a.status != 200 || res.OK || len(res.Steps) != 3 || res.Steps[2].OK || !strings.Contains(res.Steps[2].Message, "missing") {
		t.Fatalf("test unsaved: %d %s", a.status, a.body)
	}
	noSecrets(t, a.body)
	if l, _ := f.reg.List(context.Background()); len(l) != 1 {
		t.Fatal("testing an unsaved body must not store it")
	}
}

func TestReadOnlyRegistry(t *testing.T) {
	env, err := registry.NewEnv(registry.EnvConfig{Endpoint: "127.0.0.1:9000", Bucket: "hits", AccessKey: secretAK, SecretKey: secretSK, Format: "ndjson", Topic: "hits"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, env)
	for _, c := range [][3]string{{"POST", "/api/v1/integrations", createBody("x")}, {"PATCH", "/api/v1/integrations/default", `{"enabled":false}`}, {"DELETE", "/api/v1/integrations/default", ""}} {
		a := f.do(c[0], c[1], c[2])
		if a.status != 409 || a.errBody(t).Code != "read_only" {
			t.Fatalf("%s %s on a read-only registry: %d %s", c[0], c[1], a.status, a.body)
		}
	}
	if a := f.do("DELETE", "/api/v1/integrations/itg-none", ""); a.status != 404 {
		t.Fatalf("unknown id on a read-only registry: %d", a.status)
	}
	a := f.do("GET", "/api/v1/integrations/default", "")
	if a.status != 200 {
		t.Fatal(a.status)
	}
	noSecrets(t, a.body)
}

func TestServerSettings(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(testToken+"\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	o := Options{Registry: registry.NewMemory(), Tester: (&fakeTester{}).test}
	if _, err := NewServer(ServerConfig{Addr: ":8081"}, o); err == nil || !strings.Contains(err.Error(), "HITEXPORT_ADMIN_TOKEN_FILE") {
		t.Fatalf("no token: %v", err)
	}
	if _, err := NewServer(ServerConfig{Addr: "0.0.0.0:8081", AllowNoToken: true}, o); err == nil || !strings.Contains(err.Error(), "HITEXPORT_ADMIN_ALLOW_NO_TOKEN") {
		t.Fatalf("no token on a public address: %v", err)
	}
	if _, err := NewServer(ServerConfig{Addr: "127.0.0.1:8081"}, o); err == nil {
		t.Fatal("loopback without the allow flag must still need a token")
	}
	if _, err := NewServer(ServerConfig{Addr: "127.0.0.1:8081", TokenFile: short}, o); err == nil || strings.Contains(err.Error(), "abc") {
		t.Fatalf("short token: %v", err)
	}
	if _, err := NewServer(ServerConfig{Addr: "127.0.0.1:8081", TokenFile: filepath.Join(dir, "none")}, o); err == nil || !strings.Contains(err.Error(), "HITEXPORT_ADMIN_TOKEN_FILE") {
		t.Fatalf("missing token file: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:8081", "localhost:8081"} {
		if _, err := NewServer(ServerConfig{Addr: addr, AllowNoToken: true}, o); err != nil {
			t.Errorf("%s with the allow flag: %v", addr, err)
		}
	}
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TokenFile: tokFile}, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler)
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/integrations", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("token from the file: %v %v", err, res)
	}
	// ListenAndServe stops with its context
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, ServerConfig{Addr: "127.0.0.1:0", TokenFile: tokFile}, o) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not stop")
	}
}

func TestNotifyOnStateChange(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do("POST", "/api/v1/integrations", strings.Replace(createBody("hooked"), `"format"`, `"notify_url":"https://hooks.example.com/x","format"`, 1))
	var it integrations.Integration
	a.json(t, &it)
	f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"format":"json"}`) // no state change
	f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":false}`)
	f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":false}`) // already disabled
	f.do("PATCH", "/api/v1/integrations/"+it.ID, `{"enabled":true}`)
	f.do("DELETE", "/api/v1/integrations/"+it.ID, "")
	plain := f.create("quiet") // no notify_url: no event
	f.do("PATCH", "/api/v1/integrations/"+plain.ID, `{"enabled":false}`)
	var got []string
	for _, ev := range f.events {
		if ev.ID != it.ID || ev.Name != "hooked" || ev.Time.IsZero() {
			t.Fatalf("event %+v", ev)
		}
		got = append(got, ev.PreviousState+">"+ev.State)
	}
	if want := "active>disabled disabled>active active>deleted"; strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}
