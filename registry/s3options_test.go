package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/integrations"
)

const (
	testRoleARN = "arn:aws:iam::111122223333:role/hitexport-writer"
	testExtID   = "ext-sealed-4f9a1b"
)

func withRole(t *testing.T, name string) integrations.Integration {
	t.Helper()
	it := sample(t, name)
	d := &it.Destination
	d.SSE, d.SSEKMSKeyID = integrations.SSEKMS, "alias/acme-logs"
	d.RoleARN, d.ExternalID, d.RoleSessionName, d.STSEndpoint = testRoleARN, testExtID, "hx-"+name, "https://sts.eu-west-1.amazonaws.com"
	if err := it.Validate(); err != nil {
		t.Fatal(err)
	}
	return it
}

// A record with SSE and a role round-trips, its external id sealed (bound
// to the integration), as version 2; one without them stays version 1.
func TestRecordS3OptionsRoundTrip(t *testing.T) {
	kr, _ := NewKeyring(key(1))
	it := withRole(t, "acme")
	b, err := EncodeRecord(it, kr)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(testExtID)) || bytes.Contains(b, []byte("very-secret-acme")) {
		t.Fatalf("record holds a secret in clear text: %s", b)
	}
	var raw struct {
		V           int                        `json:"v"`
		Destination map[string]json.RawMessage `json:"destination"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.V != 2 {
		t.Fatalf("a record with a role: version %d, want 2", raw.V)
	}
	if _, ok := raw.Destination["external_id_sealed"]; !ok || raw.Destination["external_id"] != nil {
		t.Fatalf("external id not sealed: %s", b)
	}
	got, err := DecodeRecord(b, kr)
	if err != nil {
		t.Fatal(err)
	}
	if got.Destination != it.Destination {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got.Destination, it.Destination)
	}

	// the sealed external id opens only for its integration and field: one
	// moved from another integration's record, or into another field, fails
	ob, _ := EncodeRecord(withRole(t, "other"), kr)
	var rec, orec map[string]any
	json.Unmarshal(b, &rec)
	json.Unmarshal(ob, &orec)
	moved := func(field string, v any) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		m["destination"].(map[string]any)[field] = v
		out, _ := json.Marshal(m)
		return out
	}
	if _, err := DecodeRecord(moved("external_id_sealed", orec["destination"].(map[string]any)["external_id_sealed"]), kr); err == nil ||
		!strings.Contains(err.Error(), "destination.external_id") || strings.Contains(err.Error(), testExtID) {
		t.Fatalf("external id moved from another integration: %v", err)
	}
	if _, err := DecodeRecord(moved("secret_key_sealed", rec["destination"].(map[string]any)["external_id_sealed"]), kr); err == nil ||
		!strings.Contains(err.Error(), "destination.secret_key") {
		t.Fatalf("external id moved into the secret key: %v", err)
	}
	// without the key it does not open
	if _, err := DecodeRecord(b, nil); err == nil {
		t.Fatal("sealed external id without a keyring")
	}
	wrong, _ := NewKeyring(key(7))
	if _, err := DecodeRecord(b, wrong); err == nil || strings.Contains(err.Error(), testExtID) {
		t.Fatalf("unknown key: %v", err)
	}

	// only sse, no role: version 2 too (a version 1 reader would drop it)
	sseOnly := sample(t, "s")
	sseOnly.Destination.SSE = integrations.SSES3
	b2, _ := EncodeRecord(sseOnly, kr)
	if !bytes.Contains(b2, []byte(`"v":2`)) || !bytes.Contains(b2, []byte(`"sse":"s3"`)) {
		t.Fatalf("sse s3 record: %s", b2)
	}
	if got, err := DecodeRecord(b2, kr); err != nil || got.Destination != sseOnly.Destination {
		t.Fatalf("sse s3 round trip: %v %+v", err, got.Destination)
	}

	// defaults: version 1, without the new fields; read back with their defaults
	plain := sample(t, "plain")
	b1, _ := EncodeRecord(plain, kr)
	if !bytes.Contains(b1, []byte(`"v":1`)) || bytes.Contains(b1, []byte("sse")) || bytes.Contains(b1, []byte("role")) {
		t.Fatalf("plain record: %s", b1)
	}
	got, err = DecodeRecord(b1, kr)
	if err != nil || got.Destination != plain.Destination || got.Destination.SSE != "none" || got.Destination.RoleSessionName != "hitexport" {
		t.Fatalf("plain round trip: %v %+v", err, got.Destination)
	}
}

func TestEnvRegistryS3Options(t *testing.T) {
	r, err := NewEnv(EnvConfig{Endpoint: "127.0.0.1:9000", Bucket: "hits", AccessKey: "minioadmin", SecretKey: "minioadmin",
		SSE: "kms", SSEKMSKeyID: "alias/k", RoleARN: testRoleARN, ExternalID: testExtID, RoleSessionName: "hitexport",
		STSEndpoint: "http://127.0.0.1:9000", Format: "ndjson", Topic: "hits"})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := r.Get(context.Background(), DefaultID)
	if d := it.Destination; d.SSE != "kms" || d.SSEKMSKeyID != "alias/k" || d.RoleARN != testRoleARN || d.ExternalID != testExtID ||
		d.RoleSessionName != "hitexport" || d.STSEndpoint != "http://127.0.0.1:9000" {
		t.Fatalf("env destination: %+v", d)
	}
	// the configuration's defaults (sse none, no role) and a session name
	// the configuration only checks with a role
	r, err = NewEnv(EnvConfig{Endpoint: "127.0.0.1:9000", Bucket: "hits", AccessKey: "a", SecretKey: "s", SSE: "none",
		RoleSessionName: "x", Format: "ndjson", Topic: "hits"})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ = r.Get(context.Background(), DefaultID); it.Destination.SSE != "none" || it.Destination.RoleARN != "" {
		t.Fatalf("env defaults: %+v", it.Destination)
	}
	if _, err := NewEnv(EnvConfig{Endpoint: "h", Bucket: "hits", AccessKey: "a", SecretKey: "s", SSE: "aes", Format: "ndjson", Topic: "hits"}); err == nil ||
		!strings.Contains(err.Error(), "destination.sse") {
		t.Fatalf("bad sse accepted: %v", err)
	}
}

func TestFileRegistryS3Options(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ext"), []byte(testExtID+"\n"), 0o600)
	path := filepath.Join(dir, "integrations.yaml")
	os.WriteFile(path, []byte(`
- id: acme
  name: acme
  destination:
    endpoint: s3.eu-west-1.amazonaws.com
    bucket: acme
    region: eu-west-1
    tls: true
    access_key: AK
    secret_key: SK
    sse: kms
    sse_kms_key_id: alias/acme-logs
    role_arn: `+testRoleARN+`
    external_id_file: ext
    role_session_name: hx-acme
    sts_endpoint: https://sts.eu-west-1.amazonaws.com
- id: beta
  name: beta
  destination: {endpoint: "127.0.0.1:9000", bucket: beta, access_key: AK, secret_key: SK, sse: s3, role_arn: "`+testRoleARN+`", external_id: inline-ext-1}
`), 0o600)
	f, err := NewFile(FileOptions{Path: path, Defaults: integrations.Defaults{Topic: "hits"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	acme, _ := f.Get(context.Background(), "acme")
	if d := acme.Destination; d.SSE != "kms" || d.SSEKMSKeyID != "alias/acme-logs" || d.RoleARN != testRoleARN || d.ExternalID != testExtID ||
		d.RoleSessionName != "hx-acme" || d.STSEndpoint != "https://sts.eu-west-1.amazonaws.com" {
		t.Fatalf("acme: %+v", d)
	}
	beta, _ := f.Get(context.Background(), "beta")
	if d := beta.Destination; d.SSE != "s3" || d.ExternalID != "inline-ext-1" || d.RoleSessionName != "hitexport" {
		t.Fatalf("beta: %+v", d)
	}

	for _, c := range []struct{ dest, want string }{
		{`{endpoint: h, bucket: acme, access_key: a, secret_key: s, external_id: x1, external_id_file: ext, role_arn: "` + testRoleARN + `"}`, "destination.external_id: set together with"},
		{`{endpoint: h, bucket: acme, access_key: a, secret_key: s, sse: s3, sse_kms_key_id: k}`, "destination.sse_kms_key_id"},
		{`{endpoint: h, bucket: acme, access_key: a, secret_key: s, role_arn: "arn:nope"}`, "destination.role_arn"},
		{`{endpoint: h, bucket: acme, access_key: a, secret_key: s, external_id_file: missing, role_arn: "` + testRoleARN + `"}`, "external_id_file"},
	} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("- name: x\n  destination: "+c.dest+"\n"), 0o600)
		_, err := NewFile(FileOptions{Path: bad, Defaults: integrations.Defaults{Topic: "hits"}})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), testExtID) {
			t.Errorf("%s: %v, want %q", c.dest, err, c.want)
		}
	}
}
