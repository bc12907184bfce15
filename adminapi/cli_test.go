package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/integrations"
)

type cliFixture struct {
	*fixture
	dir, tokenFile, akFile, skFile string
}

func newCLI(t *testing.T) *cliFixture {
	f := newFixture(t, nil)
	dir := t.TempDir()
	c := &cliFixture{fixture: f, dir: dir, tokenFile: filepath.Join(dir, "token"), akFile: filepath.Join(dir, "ak"), skFile: filepath.Join(dir, "sk")}
	os.WriteFile(c.tokenFile, []byte(testToken+"\n"), 0o600)
	os.WriteFile(c.akFile, []byte(secretAK+"\n"), 0o600)
	os.WriteFile(c.skFile, []byte(secretSK+"\n"), 0o600)
	return c
}

// run runs the CLI; every output is checked for secrets.
func (c *cliFixture) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := RunCLI(append([]string{"--addr", c.srv.URL, "--token-file", c.tokenFile}, args...), &out, &errb)
	noSecrets(c.t, out.Bytes(), errb.Bytes())
	return code, out.String(), errb.String()
}

func (c *cliFixture) addArgs(name string) []string {
	return []string{"add", "--name", name, "--endpoint", "127.0.0.1:9000", "--bucket", "acme", "--access-key-file", c.akFile, "--secret-key-file", c.skFile,
		"--format", "ocsf", "--compression", "zstd", "--prefix", "waf/", "--match", "application_id=1,2", "--match", "domain=a.example,b.example", "--start", "earliest"}
}

func TestCLIAddListGet(t *testing.T) {
	c := newCLI(t)
	code, out, errs := c.run(c.addArgs("acme-prod")...)
	if code != 0 || !strings.Contains(out, "added itg-") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	list, _ := c.reg.List(context.Background())
	if len(list) != 1 {
		t.Fatal("not stored")
	}
	it := list[0]
	if it.Destination.SecretKey != secretSK || it.Destination.AccessKey != secretAK || it.Format != "ocsf" || it.Compression != "zstd" || it.Start != "earliest" ||
		it.KeyPrefix != "waf/" || len(it.Filter.Match["application_id"]) != 2 || string(it.Filter.Match["domain"][1]) != `"b.example"` ||
		!integrations.Equal(it.Filter.Match["application_id"][0], json.RawMessage("1")) {
		t.Fatalf("stored: %+v %s", it, it.Filter.Match)
	}
	code, out, _ = c.run("list")
	if code != 0 || !strings.Contains(out, "ID") || !strings.Contains(out, it.ID) || !strings.Contains(out, "acme-prod") || !strings.Contains(out, "active") || !strings.Contains(out, "ocsf+zstd") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, out, _ = c.run("list", "-o", "json")
	var l IntegrationList
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Integrations) != 1 || l.Integrations[0].ID != it.ID {
		t.Fatalf("list -o json: %d %s", code, out)
	}
	// get by id and by name, flags after the argument
	for _, ref := range []string{it.ID, "acme-prod"} {
		code, out, _ = c.run("get", ref)
		if code != 0 || !regexp.MustCompile(`(?m)^credentials\s+set$`).MatchString(out) || !strings.Contains(out, it.ID) {
			t.Fatalf("get %s: %d\n%s", ref, code, out)
		}
	}
	code, out, _ = c.run("get", "acme-prod", "-o", "json")
	var got map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got["id"] != it.ID {
		t.Fatalf("get -o json: %s", out)
	}
	// duplicate name: the API's error, exit 1
	code, _, errs = c.run(c.addArgs("acme-prod")...)
	if code != 1 || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "409") {
		t.Fatalf("duplicate: %d %q", code, errs)
	}
	// invalid field: named
	code, _, errs = c.run("add", "--name", "x", "--endpoint", "h", "--bucket", "Bad_Bucket", "--access-key-file", c.akFile, "--secret-key-file", c.skFile)
	if code != 1 || !strings.Contains(errs, "destination.bucket") {
		t.Fatalf("invalid: %d %q", code, errs)
	}
	code, _, _ = c.run("get", "nothing-like-this")
	if code != 1 {
		t.Fatalf("unknown ref: %d", code)
	}
}

func TestCLIUpdateEnableDisableDelete(t *testing.T) {
	c := newCLI(t)
	c.run(c.addArgs("acme")...)
	list, _ := c.reg.List(context.Background())
	id := list[0].ID

	code, out, errs := c.run("update", "acme", "--format", "json", "--bucket", "acme2", "--clear-match")
	if code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("update: %d %q %q", code, out, errs)
	}
	it, _ := c.reg.Get(context.Background(), id)
	if it.Format != "json" || it.Destination.Bucket != "acme2" || it.Compression != "zstd" || it.Filter.Match != nil || it.Destination.SecretKey != secretSK {
		t.Fatalf("after update: %+v", it)
	}
	body := filepath.Join(c.dir, "body.json")
	os.WriteFile(body, []byte(`{"key_prefix":"x/","filter":{"match":{"status_code":[403]}}}`), 0o600)
	if code, _, errs = c.run("update", id, "-f", body, "--compression", "gzip"); code != 0 {
		t.Fatalf("update -f: %d %q", code, errs)
	}
	it, _ = c.reg.Get(context.Background(), id)
	if it.KeyPrefix != "x/" || it.Compression != "gzip" || len(it.Filter.Match["status_code"]) != 1 {
		t.Fatalf("after update -f: %+v", it)
	}
	if code, _, _ = c.run("update", id); code != 2 {
		t.Fatalf("update without changes: %d", code)
	}

	if code, out, _ = c.run("disable", "acme"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %d %q", code, out)
	}
	if it, _ = c.reg.Get(context.Background(), id); it.Enabled {
		t.Fatal("still enabled")
	}
	if code, out, _ = c.run("enable", "acme", "--from-now"); code != 0 || !strings.Contains(out, "active") {
		t.Fatalf("enable --from-now: %d %q", code, out)
	}
	if len(c.pos.resets) != 1 || c.pos.resets[0] != id {
		t.Fatalf("--from-now must reset the position: %v", c.pos.resets)
	}
	c.run("disable", id)
	if code, _, _ = c.run("enable", id); code != 0 || len(c.pos.resets) != 1 {
		t.Fatalf("enable resumes where it stopped: %d %v", code, c.pos.resets)
	}

	if code, out, _ = c.run("delete", "acme"); code != 0 || !strings.Contains(out, "deleted "+id) {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, err := c.reg.Get(context.Background(), id); err == nil {
		t.Fatal("not deleted")
	}
	if code, _, _ = c.run("delete", "acme"); code != 1 {
		t.Fatalf("delete again: %d", code)
	}
}

func TestCLITest(t *testing.T) {
	c := newCLI(t)
	c.run(c.addArgs("acme")...)
	code, out, _ := c.run("test", "acme")
	if code != 0 || !strings.Contains(out, "s3-write") || !strings.Contains(out, "ok") {
		t.Fatalf("test stored: %d\n%s", code, out)
	}
	// unsaved, failing: exit 1, steps shown
	code, out, _ = c.run("test", "--name", "new", "--endpoint", "127.0.0.1:9000", "--bucket", "missing", "--access-key-file", c.akFile, "--secret-key-file", c.skFile)
	if code != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "missing") {
		t.Fatalf("test unsaved: %d\n%s", code, out)
	}
	code, out, _ = c.run("test", "acme", "-o", "json")
	var res TestResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.OK || len(res.Steps) != 4 {
		t.Fatalf("test -o json: %d %s", code, out)
	}
}

func TestCLIUsageAndAuth(t *testing.T) {
	c := newCLI(t)
	var out, errb bytes.Buffer
	if code := RunCLI(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("no command: %d", code)
	}
	if code, _, _ := c.run("frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	if code, _, _ := c.run("get"); code != 2 {
		t.Fatalf("get without ID: %d", code)
	}
	if code, _, _ := c.run("list", "-o", "yaml"); code != 2 {
		t.Fatalf("bad -o: %d", code)
	}
	if code, _, _ := c.run("add", "--match", "novalue"); code != 2 {
		t.Fatalf("bad --match: %d", code)
	}
	if code, _, errs := c.run("add", "--name", "x", "--access-key-file", filepath.Join(c.dir, "none")); code != 2 || !strings.Contains(errs, "access-key-file") {
		t.Fatalf("missing key file: %d %q", code, errs)
	}
	// wrong token: 401 from the API, exit 1
	bad := filepath.Join(c.dir, "bad")
	os.WriteFile(bad, []byte("wrong-token-0123456789abcdef"), 0o600)
	out.Reset()
	errb.Reset()
	if code := RunCLI([]string{"list", "--addr", c.srv.URL, "--token-file", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("wrong token: %d %q", code, errb.String())
	}
	// address from the environment
	t.Setenv("HITEXPORT_ADMIN_URL", c.srv.URL)
	t.Setenv("HITEXPORT_ADMIN_TOKEN_FILE", c.tokenFile)
	out.Reset()
	if code := RunCLI([]string{"list"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "NAME") {
		t.Fatalf("env settings: %d %q", code, errb.String())
	}
}

func TestParseMatch(t *testing.T) {
	m, err := parseMatch([]string{"application_id=1,2", "domain=a.example,b.example", `status="1"`, "x=null", "application_id=3", `o={"a":1}`})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	want := `{"application_id":[1,2,3],"domain":["a.example","b.example"],"o":[{"a":1}],"status":["1"],"x":[null]}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}
