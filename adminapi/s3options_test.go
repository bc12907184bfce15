package adminapi

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const secretExtID = "ext-fixture-7c1d2e"

const roleARN = "arn:aws:iam::111122223333:role/hitexport-writer"

func roleBody(name string) string {
	return `{"name":"` + name + `","destination":{"endpoint":"s3.eu-west-1.amazonaws.com","bucket":"acme","region":"eu-west-1","tls":true,` +
		`"access_key":"` + secretAK + `","secret_key":"` + secretSK + `","sse":"kms","sse_kms_key_id":"alias/acme-logs",` +
		`"role_arn":"` + roleARN + `","external_id":"` + secretExtID + `","sts_endpoint":"https://sts.eu-west-1.amazonaws.com"}}`
}

// The destination's SSE and AssumeRole fields over the API: stored, shown
// without the external id (external_id_set instead), kept by a PATCH that
// leaves external_id blank, refused with the field named.
func TestDestinationS3OptionsAPI(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do("POST", "/api/v1/integrations", roleBody("acme"))
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	noSecrets(t, a.body)
	var out struct {
		ID          string         `json:"id"`
		Destination map[string]any `json:"destination"`
	}
	a.json(t, &out)
	want := map[string]any{"sse": "kms", "sse_kms_key_id": "alias/acme-logs", "role_arn": roleARN, "external_id_set": true,
		"role_session_name": "hitexport", "sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "credentials_set": true}
	for k, v := range want {
		if out.Destination[k] != v {
			t.Errorf("destination.%s = %v, want %v (%s)", k, out.Destination[k], v, a.body)
		}
	}
	if _, ok := out.Destination["external_id"]; ok {
		t.Errorf("external_id returned: %s", a.body)
	}
	stored, _ := f.reg.Get(context.Background(), out.ID)
	if stored.Destination.ExternalID != secretExtID || stored.Destination.SSE != "kms" {
		t.Fatalf("stored %+v", stored.Destination)
	}

	// GET, and the GET body sent back as a PATCH, keep everything
	g := f.do("GET", "/api/v1/integrations/"+out.ID, "")
	noSecrets(t, g.body)
	var gd struct {
		Destination map[string]any `json:"destination"`
	}
	if g.json(t, &gd); gd.Destination["external_id_set"] != true || gd.Destination["role_arn"] != roleARN {
		t.Fatalf("GET: %s", g.body)
	}
	if p := f.do("PATCH", "/api/v1/integrations/"+out.ID, string(g.body)); p.status != 200 {
		t.Fatalf("GET body sent back: %d %s", p.status, p.body)
	}
	p := f.do("PATCH", "/api/v1/integrations/"+out.ID, `{"destination":{"external_id":"","role_session_name":"hitexport-acme"}}`)
	if p.status != 200 {
		t.Fatalf("patch: %d %s", p.status, p.body)
	}
	stored, _ = f.reg.Get(context.Background(), out.ID)
	if d := stored.Destination; d.ExternalID != secretExtID || d.RoleSessionName != "hitexport-acme" || d.RoleARN != roleARN || d.SSEKMSKeyID != "alias/acme-logs" {
		t.Fatalf("a blank external_id must keep the stored one, other fields kept: %+v", d)
	}
	f.do("PATCH", "/api/v1/integrations/"+out.ID, `{"destination":{"external_id":"ext-rotated-42"}}`)
	if stored, _ = f.reg.Get(context.Background(), out.ID); stored.Destination.ExternalID != "ext-rotated-42" {
		t.Fatal("a new external_id must replace the stored one")
	}

	for _, c := range []struct{ body, field string }{
		{`{"destination":{"sse":"aes"}}`, "destination.sse"},
		{`{"destination":{"sse":"s3","sse_kms_key_id":"k1"}}`, "destination.sse_kms_key_id"},
		{`{"destination":{"role_arn":"arn:aws:s3:::acme"}}`, "destination.role_arn"},
		{`{"destination":{"sts_endpoint":"sts.amazonaws.com"}}`, "destination.sts_endpoint"},
		{`{"destination":{"external_id":"x"}}`, "destination.external_id"},
		{`{"destination":{"role_session_name":"has space"}}`, "destination.role_session_name"},
		{`{"destination":{"role_arn":"","external_id":"` + secretExtID + `"}}`, "destination.external_id"},
	} {
		a := f.do("PATCH", "/api/v1/integrations/"+out.ID, c.body)
		noSecrets(t, a.body)
		if e := a.errBody(t); a.status != 422 || e.Code != "invalid" || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 422 on %s", c.body, a.status, e, c.field)
		}
	}
	// removing the role removes its external id and STS endpoint
	p = f.do("PATCH", "/api/v1/integrations/"+out.ID, `{"destination":{"role_arn":"","sse":"s3"}}`)
	if p.status != 200 {
		t.Fatalf("remove the role: %d %s", p.status, p.body)
	}
	stored, _ = f.reg.Get(context.Background(), out.ID)
	if d := stored.Destination; d.RoleARN != "" || d.ExternalID != "" || d.STSEndpoint != "" || d.SSE != "s3" || d.SSEKMSKeyID != "" {
		t.Fatalf("after removing the role and choosing sse s3: %+v", d)
	}
	if p.json(t, &gd); gd.Destination["external_id_set"] != false {
		t.Fatalf("external_id_set after removal: %s", p.body)
	}
	noSecrets(t, f.logs.Bytes())
}

// The CLI's destination flags: --sse, --sse-kms-key-id, --role-arn,
// --external-id-file (read from a file, never printed), --role-session-name,
// --sts-endpoint.
func TestCLIDestinationS3Options(t *testing.T) {
	c := newCLI(t)
	extFile := filepath.Join(c.dir, "ext")
	os.WriteFile(extFile, []byte(secretExtID+"\n"), 0o600)
	args := append(c.addArgs("acme-role"), "--sse", "kms", "--sse-kms-key-id", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd",
		"--role-arn", roleARN, "--external-id-file", extFile, "--role-session-name", "hx-acme", "--sts-endpoint", "http://127.0.0.1:9911")
	code, out, errs := c.run(args...)
	if code != 0 || !strings.Contains(out, "added itg-") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	list, _ := c.reg.List(context.Background())
	if len(list) != 1 {
		t.Fatal("not stored")
	}
	d := list[0].Destination
	if d.SSE != "kms" || d.SSEKMSKeyID != "arn:aws:kms:eu-west-1:111122223333:key/1234abcd" || d.RoleARN != roleARN || d.ExternalID != secretExtID ||
		d.RoleSessionName != "hx-acme" || d.STSEndpoint != "http://127.0.0.1:9911" {
		t.Fatalf("stored: %+v", d)
	}
	code, out, _ = c.run("get", "acme-role")
	for _, re := range []string{`(?m)^sse\s+kms \(key arn:aws:kms:`, `(?m)^role_arn\s+` + regexp.QuoteMeta(roleARN) + `$`, `(?m)^external_id\s+set$`, `(?m)^role_session_name\s+hx-acme$`} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("get: %s missing:\n%s", re, out)
		}
	}
	// update: a new session name keeps the external id; --sse s3 drops the KMS key id
	if code, _, errs = c.run("update", "acme-role", "--role-session-name", "hx-2", "--sse", "s3"); code != 0 {
		t.Fatalf("update: %d %s", code, errs)
	}
	it, _ := c.reg.Get(context.Background(), list[0].ID)
	if d := it.Destination; d.RoleSessionName != "hx-2" || d.ExternalID != secretExtID || d.SSE != "s3" || d.SSEKMSKeyID != "" {
		t.Fatalf("after update: %+v", d)
	}
	// the API's validation names the field; an empty external id file is a usage error
	if code, _, errs = c.run("update", "acme-role", "--sts-endpoint", "ftp://x"); code != 1 || !strings.Contains(errs, "destination.sts_endpoint") {
		t.Fatalf("bad sts endpoint: %d %q", code, errs)
	}
	empty := filepath.Join(c.dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	if code, _, errs = c.run("update", "acme-role", "--external-id-file", empty); code != 2 || !strings.Contains(errs, "--external-id-file") {
		t.Fatalf("empty external id file: %d %q", code, errs)
	}
	// --role-arn "" removes the role
	if code, _, errs = c.run("update", "acme-role", "--role-arn", ""); code != 0 {
		t.Fatalf("remove role: %d %s", code, errs)
	}
	it, _ = c.reg.Get(context.Background(), list[0].ID)
	if d := it.Destination; d.RoleARN != "" || d.ExternalID != "" || d.STSEndpoint != "" || d.RoleSessionName != "hx-2" {
		t.Fatalf("after removing the role: %+v", d)
	}
	// -o json never holds the external id either
	code, out, _ = c.run("get", "acme-role", "-o", "json")
	var m struct {
		Destination map[string]any `json:"destination"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || m.Destination["external_id_set"] != false || m.Destination["sse"] != "s3" {
		t.Fatalf("get -o json: %s", out)
	}
}
