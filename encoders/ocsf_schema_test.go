package encoders

// Validation of the OCSF output against the official OCSF 1.8.0 schema, with
// scripts/ocsf_validate.py (schema data from the ocsf-json-schema package on
// PyPI, see scripts/ocsf-setup.sh). The test prepares the validator itself;
// when Python or PyPI is missing it fails with the reason.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	ocsfValidatorOnce sync.Once
	ocsfValidatorPy   string
	ocsfValidatorErr  error
)

// ocsfValidatorSetup runs scripts/ocsf-setup.sh (quick when .local/ocsf is ready)
// and returns the venv's python.
func ocsfValidatorSetup(t *testing.T) (python, script string) {
	t.Helper()
	root := ocsfRepoRoot(t)
	ocsfValidatorOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "ocsf-setup.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			ocsfValidatorErr = errors.New("scripts/ocsf-setup.sh failed (it needs python3 >= 3.10 with venv and PyPI): " + err.Error() + "\n" + string(out))
			return
		}
		dir := os.Getenv("OCSF_DIR")
		if dir == "" {
			dir = filepath.Join(root, ".local", "ocsf")
		}
		ocsfValidatorPy = filepath.Join(dir, "venv", "bin", "python")
	})
	if ocsfValidatorErr != nil {
		t.Fatal(ocsfValidatorErr)
	}
	return ocsfValidatorPy, filepath.Join(root, "scripts", "ocsf_validate.py")
}

// ocsfValidate pipes events (NDJSON, a JSON array or one object) through the
// validator; it returns the error lines and whether the input was valid.
func ocsfValidate(t *testing.T, events []byte) (errs []string, ok bool) {
	t.Helper()
	py, script := ocsfValidatorSetup(t)
	cmd := exec.Command(py, script)
	cmd.Stdin = bytes.NewReader(events)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		ok = true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		ok = false
	default:
		t.Fatalf("validator did not run: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if l != "" {
			errs = append(errs, l)
		}
	}
	if ok != (len(errs) == 0) {
		t.Fatalf("validator exit status and output disagree:\n%s%s", stdout.String(), stderr.String())
	}
	return errs, ok
}

func ocsfRequireValid(t *testing.T, what string, events []byte) {
	t.Helper()
	if errs, ok := ocsfValidate(t, events); !ok {
		if len(errs) > 30 {
			errs = append(errs[:30], "...")
		}
		t.Fatalf("%s: not valid OCSF 1.8.0 HTTP Activity:\n%s", what, strings.Join(errs, "\n"))
	}
}

func TestOCSFSchemaGolden(t *testing.T) {
	for _, name := range ocsfGoldenInputs {
		recs := ocsfReadHits(t, ocsfTestdata(t, name+".ndjson"))
		ocsfRequireValid(t, name+" (ocsf)", EncodeAll(t, "ocsf", recs))
		ocsfRequireValid(t, name+" (ocsf-json)", EncodeAll(t, "ocsf-json", recs))
	}
}

func TestOCSFSchemaOddShapes(t *testing.T) {
	ocsfRequireValid(t, "odd shapes", EncodeAll(t, "ocsf", ocsfOddHits()))
	// every field in every JSON type, and a few IP forms
	var recs []Record
	fields := []string{"time", "request_id", "ip", "datacenter", "tor", "remote_country", "application_id", "domain",
		"method", "uri", "protocol", "status_code", "attack_type", "block_status", "payload", "point", "tags", "other"}
	values := []string{`null`, `true`, `0`, `-1.5e3`, `""`, `"x"`, `[]`, `[null]`, `["a",1]`, `{}`, `{"a":{"b":[{}]}}`}
	for _, f := range fields {
		for _, v := range values {
			recs = append(recs, ocsfHit(`{"ip":"10.1.1.1","attack_type":"sqli","`+f+`":`+v+`}`))
		}
	}
	for _, ip := range []string{"::", "::1", "1::", "2001:db8::1", "2001:DB8:0:0:8:800:200C:417A", "::ffff:10.0.0.1",
		"64:ff9b::192.0.2.33", "fe80::1%eth0", "fe80::1%25", "0.0.0.0", "255.255.255.255", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:1.2.3.4"} {
		recs = append(recs, ocsfHit(`{"ip":"`+ip+`","remote_country":"PL","tor":"none"}`))
	}
	ocsfRequireValid(t, "field types", EncodeAll(t, "ocsf", recs))
	for _, r := range recs[len(recs)-13:] {
		if ev := ocsfEncodeOne(t, r); ocsfGet(ev, "src_endpoint", "ip") == nil {
			t.Errorf("%s: ip not mapped", r.Value)
		}
	}
}

// The vendor's own OCSF sample from the seed must fail.
func TestOCSFSchemaVendorSampleFails(t *testing.T) {
	sample, err := os.ReadFile(ocsfTestdata(t, "vendor_sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	errs, ok := ocsfValidate(t, sample)
	if ok {
		t.Fatal("the vendor's sample passed the validator")
	}
	joined := strings.Join(errs, "\n")
	for _, want := range []string{
		"$.class_id: unknown attribute", "$.class_uid: required attribute is missing",
		"$.activity_id: required", "$.type_uid: required", "$.category_uid:",
		"$.http_request.url: wrong type", "$.http_request.method: unknown attribute",
		"$.http_response.code: required", "$.metadata.product: wrong type",
		"$.metadata.version: required", "$.extensions: unknown attribute",
		"$.src_endpoint.country: unknown attribute",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no error %q in:\n%s", want, joined)
		}
	}
	if len(errs) < 15 {
		t.Errorf("%d errors, want at least 15:\n%s", len(errs), joined)
	}
	t.Logf("vendor sample: %d errors", len(errs))
}

// Negative tests: the validator must catch each kind of mistake in an
// otherwise valid event (the seed's first hit, mapped).
func TestOCSFSchemaNegative(t *testing.T) {
	recs := ocsfReadHits(t, ocsfTestdata(t, "hits.ndjson"))
	base := EncodeAll(t, "ocsf", recs[:1])
	ocsfRequireValid(t, "base event", base)

	cases := []struct {
		name   string
		mutate func(ev map[string]any)
		want   string // expected in an error line
	}{
		{"missing required activity_id", func(ev map[string]any) { delete(ev, "activity_id") }, "$.activity_id: required attribute is missing"},
		{"missing required metadata.version", func(ev map[string]any) { delete(ocsfObj(ev, "metadata"), "version") }, "$.metadata.version: required attribute is missing"},
		{"missing required http_response.code", func(ev map[string]any) { ev["http_response"] = map[string]any{} }, "$.http_response.code: required attribute is missing"},
		{"missing http_request and http_response", func(ev map[string]any) { delete(ev, "http_request"); delete(ev, "http_response") }, "needs at least one of: http_request, http_response"},
		{"missing product name and uid", func(ev map[string]any) { ocsfObj(ev, "metadata")["product"] = map[string]any{"vendor_name": "x"} }, "$.metadata.product: needs at least one of: name, uid"},
		{"wrong type: time as a string", func(ev map[string]any) { ev["time"] = "1687241470000" }, "$.time: wrong type"},
		{"wrong type: time as a float", func(ev map[string]any) { ev["time"] = 1687241470000.5 }, "$.time: wrong type"},
		{"wrong type: url as a string", func(ev map[string]any) { ocsfObj(ev, "http_request")["url"] = "/etc/passwd" }, "$.http_request.url: wrong type"},
		{"wrong type: tags not an array", func(ev map[string]any) { ocsfObj(ev, "metadata")["tags"] = map[string]any{"a": "b"} }, "$.metadata.tags: wrong type"},
		{"wrong type: match_details of numbers", func(ev map[string]any) { ocsfObj(ev, "firewall_rule")["match_details"] = []any{1} }, "$.firewall_rule.match_details[0]: wrong type"},
		{"wrong type: null", func(ev map[string]any) { ev["severity"] = nil }, "$.severity: wrong type"},
		{"integer_t beyond 32 bits", func(ev map[string]any) { ocsfObj(ev, "http_response")["code"] = 1 << 40 }, "$.http_response.code: 1099511627776 is out of range"},
		{"unknown attribute at the top", func(ev map[string]any) { ev["extensions"] = map[string]any{"a": 1} }, "$.extensions: unknown attribute"},
		{"unknown attribute nested", func(ev map[string]any) { ocsfObj(ev, "http_request", "url")["fragment"] = "x" }, "$.http_request.url.fragment: unknown attribute"},
		{"unknown attribute in an array", func(ev map[string]any) {
			ev["attacks"].([]any)[0].(map[string]any)["technique"].(map[string]any)["mitre_id"] = "T1190"
		}, "$.attacks[0].technique.mitre_id: unknown attribute"},
		{"type_uid does not match activity_id", func(ev map[string]any) { ev["type_uid"] = 400206 }, "$.type_uid: 400206 != class_uid * 100 + activity_id = 400203"},
		{"type_uid outside the class", func(ev map[string]any) { ev["type_uid"] = 300103 }, "$.type_uid:"},
		{"category_uid of another category", func(ev map[string]any) { ev["category_uid"] = 3 }, "$.category_uid:"},
		{"class_uid of another class", func(ev map[string]any) { ev["class_uid"] = 4001; ev["type_uid"] = 400103 }, "$.class_uid:"},
		{"enum: activity_id", func(ev map[string]any) { ev["activity_id"] = 10; ev["type_uid"] = 400210 }, "$.activity_id: 10 is not one of"},
		{"enum: disposition_id", func(ev map[string]any) { ev["disposition_id"] = 28 }, "$.disposition_id: 28 is not one of"},
		{"enum: http_method", func(ev map[string]any) { ocsfObj(ev, "http_request")["http_method"] = "get" }, `$.http_request.http_method: "get" is not one of`},
		{"data type: ip", func(ev map[string]any) { ocsfObj(ev, "src_endpoint")["ip"] = "300.1.1.1" }, "$.src_endpoint.ip:"},
		{"sibling caption", func(ev map[string]any) { ev["activity_name"] = "Post" }, `$.activity_name: 'Post' does not match activity_id 3`},
		{"profile not declared", func(ev map[string]any) { delete(ocsfObj(ev, "metadata"), "profiles") }, "$.action_id: attribute of profile security_control, not declared"},
		{"another OCSF version", func(ev map[string]any) { ocsfObj(ev, "metadata")["version"] = "1.7.0" }, "$.metadata.version: '1.7.0'"},
	}
	var all []byte
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev map[string]any
			if err := json.Unmarshal(base, &ev); err != nil {
				t.Fatal(err)
			}
			c.mutate(ev)
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			all = append(append(all, b...), '\n')
			errs, ok := ocsfValidate(t, b)
			if ok {
				t.Fatalf("validator accepted: %s", b)
			}
			found := false
			for _, e := range errs {
				found = found || strings.Contains(e, c.want)
			}
			if !found {
				t.Errorf("no error containing %q:\n%s", c.want, strings.Join(errs, "\n"))
			}
		})
	}
	// In one stream the validator names the event index of each error.
	errs, ok := ocsfValidate(t, append(append([]byte(nil), base...), all...))
	if ok {
		t.Fatal("stream of invalid events accepted")
	}
	for _, e := range errs {
		if strings.HasPrefix(e, "stdin: event 0:") {
			t.Errorf("valid event 0 reported: %s", e)
		}
	}
	if !strings.Contains(strings.Join(errs, "\n"), "stdin: event 1: $.activity_id") {
		t.Errorf("event index missing from:\n%s", strings.Join(errs, "\n"))
	}
}

func ocsfObj(ev map[string]any, path ...string) map[string]any {
	m := ev
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}
