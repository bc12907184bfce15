package integrations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/encoders"
)

var now = time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)

func decodePatch(t *testing.T, body string) Patch {
	t.Helper()
	var p Patch
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return p
}

const validBody = `{"name":"acme-prod","destination":{"endpoint":"127.0.0.1:9000","bucket":"acme","access_key":"AKIAEXAMPLE","secret_key":"s3cr3t-value"}}`

func TestNewDefaults(t *testing.T) {
	it, err := New(decodePatch(t, validBody), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^itg-[a-z2-7]{10}$`).MatchString(it.ID) {
		t.Errorf("id %q", it.ID)
	}
	if !it.Enabled || it.Format != "ndjson" || it.Compression != "none" || it.Start != "latest" || it.Destination.Region != "us-east-1" || it.Filter.Topic != "hits" {
		t.Errorf("defaults not applied: %+v", it)
	}
	if !it.CreatedAt.Equal(now) || !it.UpdatedAt.Equal(now) {
		t.Errorf("timestamps %v %v", it.CreatedAt, it.UpdatedAt)
	}
	if it.ID == NewID() {
		t.Error("ids repeat")
	}
}

func TestValidationFields(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{"destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "name"},
		{`{"name":"bad/name","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "name"},
		{`{"name":"n","destination":{"bucket":"acme","access_key":"a","secret_key":"s"}}`, "destination.endpoint"},
		{`{"name":"n","destination":{"endpoint":"http://h:9000","bucket":"acme","access_key":"a","secret_key":"s"}}`, "destination.endpoint"},
		{`{"name":"n","destination":{"endpoint":"h:99999","bucket":"acme","access_key":"a","secret_key":"s"}}`, "destination.endpoint"},
		{`{"name":"n","destination":{"endpoint":"h/x","bucket":"acme","access_key":"a","secret_key":"s"}}`, "destination.endpoint"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"Acme","access_key":"a","secret_key":"s"}}`, "destination.bucket"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"ab","access_key":"a","secret_key":"s"}}`, "destination.bucket"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"a..b","access_key":"a","secret_key":"s"}}`, "destination.bucket"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"192.168.1.1","access_key":"a","secret_key":"s"}}`, "destination.bucket"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"acme","secret_key":"s"}}`, "destination.access_key"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"acme","access_key":"a"}}`, "destination.secret_key"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s","ca_pem":"x"}}`, "destination.ca_pem"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s","tls":true,"ca_pem":"x"}}`, "destination.ca_pem"},
		{`{"name":"n","destination":{"endpoint":"h","bucket":"acme","region":"US East","access_key":"a","secret_key":"s"}}`, "destination.region"},
		{`{"name":"n","format":"csv","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "format"},
		{`{"name":"n","compression":"lz4","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "compression"},
		{`{"name":"n","key_prefix":"/waf","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "key_prefix"},
		{`{"name":"n","key_prefix":"waf/{year}/","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "key_prefix"},
		{`{"name":"n","key_prefix":"waf?x","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "key_prefix"},
		{`{"name":"n","filter":{"topic":"bad topic"},"destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "filter.topic"},
		{`{"name":"n","filter":{"match":{"application_id":[]}},"destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "filter.match.application_id"},
		{`{"name":"n","filter":{"match":{"application_id":1}},"destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "filter.match"},
		{`{"name":"n","start":"yesterday","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "start"},
		{`{"name":"n","notify_url":"ftp://x","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "notify_url"},
		{`{"name":"n","resume":"latest","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`, "resume"},
	}
	for _, c := range cases {
		_, err := New(decodePatch(t, c.body), Defaults{Topic: "hits"}, now)
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field {
			t.Errorf("%s: got %v, want a field error on %s", c.body, err, c.field)
			continue
		}
		if strings.Contains(fe.Message, "s3cr3t") {
			t.Errorf("message holds the secret: %s", fe.Message)
		}
	}
	good := []string{
		`{"name":"A b.c_d-e","format":"ocsf-json","compression":"zstd","key_prefix":"waf/dt={yyyy}-{mm}-{dd}/hour={hh}/","start":"2026-12-01T00:00:00Z","notify_url":"https://hooks.example.com/x","filter":{"topic":"hits.v2","match":{"application_id":[1,2],"domain":["a.example"]}},"destination":{"endpoint":"[::1]:9000","bucket":"my.bucket-1","region":"eu-west-1","access_key":"a","secret_key":"s","tls":true}}`,
		`{"name":"n","start":"earliest","destination":{"endpoint":"s3.amazonaws.com","bucket":"acme","access_key":"a","secret_key":"s"}}`,
	}
	for _, g := range good {
		if _, err := New(decodePatch(t, g), Defaults{Topic: "hits"}, now); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
}

func TestFormatsAgreeWithEncoders(t *testing.T) {
	got := slices.Sorted(slices.Values(Formats))
	if want := encoders.Formats(); !slices.Equal(got, want) {
		t.Fatalf("integrations.Formats %v, encoders.Formats %v", got, want)
	}
	for _, c := range Compressions {
		if _, err := encoders.ParseCompression(c); err != nil {
			t.Errorf("compression %s: %v", c, err)
		}
	}
}

func TestApplyPatchKeepsSecretsAndFields(t *testing.T) {
	it, err := New(decodePatch(t, `{"name":"a","key_prefix":"p/","filter":{"match":{"domain":["x"]}},"destination":{"endpoint":"h","bucket":"acme","access_key":"AK","secret_key":"SK"}}`), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	up, err := it.Apply(decodePatch(t, `{"destination":{"bucket":"other","access_key":"","secret_key":""},"format":"json"}`), Defaults{Topic: "hits"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if up.Destination.AccessKey != "AK" || up.Destination.SecretKey != "SK" || up.Destination.Bucket != "other" || up.Destination.Endpoint != "h" {
		t.Errorf("patch lost fields: %v", up.Destination)
	}
	if up.Format != "json" || up.KeyPrefix != "p/" || len(up.Filter.Match) != 1 || !up.UpdatedAt.Equal(later) || !up.CreatedAt.Equal(now) {
		t.Errorf("patch changed other fields: %+v", up)
	}
	if it.Format != "ndjson" {
		t.Error("Apply modified its receiver")
	}
	cleared, err := up.Apply(decodePatch(t, `{"filter":{"match":null}}`), Defaults{Topic: "hits"}, later)
	if err != nil || cleared.Filter.Match != nil || cleared.Filter.Topic != "hits" {
		t.Errorf("match: null must clear the match: %v %+v", err, cleared.Filter)
	}
	rot, _ := up.Apply(decodePatch(t, `{"destination":{"secret_key":"SK2"}}`), Defaults{Topic: "hits"}, later)
	if rot.Destination.SecretKey != "SK2" || rot.Destination.AccessKey != "AK" {
		t.Error("a new secret must replace the old one")
	}
	// read-only fields of a GET body are ignored
	back, _ := json.Marshal(up.WithStatus(Status{State: StateActive}))
	if _, err := up.Apply(decodePatch(t, string(back)), Defaults{Topic: "hits"}, later); err != nil {
		t.Errorf("a GET body sent back: %v", err)
	}
}

func TestEnableDisableState(t *testing.T) {
	it, _ := New(decodePatch(t, validBody), Defaults{Topic: "hits"}, now)
	if s := ComputeStatus(it, RuntimeStatus{}, false); s.State != StateActive {
		t.Errorf("new: %s", s.State)
	}
	if s := ComputeStatus(it, RuntimeStatus{Failing: true, LastError: &ErrorInfo{Class: ClassAuth, Message: "access denied"}}, true); s.State != StateFailing || s.Reason != "access denied" || s.LastError.Class != "auth" {
		t.Errorf("failing: %+v", s)
	}
	off, err := it.Apply(decodePatch(t, `{"enabled":false}`), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s := ComputeStatus(off, RuntimeStatus{Failing: true}, true); s.State != StateDisabled || off.DisabledBy != DisabledByUser || off.DisabledAt.IsZero() {
		t.Errorf("user-disabled: %+v %+v", s, off)
	}
	auto := it
	auto.SetEnabled(false, DisabledByAuto, "60% of uploads failed within 12h", now)
	if s := ComputeStatus(auto, RuntimeStatus{}, false); s.State != StateAutoDisabled || !strings.Contains(s.Reason, "60%") {
		t.Errorf("auto: %+v", s)
	}
	if _, err := auto.Apply(decodePatch(t, `{"resume":"latest"}`), Defaults{Topic: "hits"}, now); err == nil || err.(*FieldError).Field != "resume" {
		t.Errorf("resume without enabled: %v", err)
	}
	on, err := auto.Apply(decodePatch(t, `{"enabled":true,"resume":"latest"}`), Defaults{Topic: "hits"}, now)
	if err != nil || !on.Enabled || on.DisabledBy != "" || ComputeStatus(on, RuntimeStatus{}, false).State != StateActive {
		t.Errorf("re-enable: %v %+v", err, on)
	}
	mine, _ := auto.Apply(decodePatch(t, `{"enabled":false}`), Defaults{Topic: "hits"}, now)
	if mine.DisabledBy != DisabledByUser {
		t.Error("disabling an auto-disabled integration makes it the user's")
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	it, _ := New(decodePatch(t, validBody), Defaults{Topic: "hits"}, now)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "integration", it, "dest", it.Destination)
	j, _ := json.Marshal(it)
	outs := map[string]string{"json": string(j), "%v": fmt.Sprintf("%v", it), "%+v": fmt.Sprintf("%+v", it), "%#v": fmt.Sprintf("%#v", it),
		"%s dest": fmt.Sprintf("%s", it.Destination), "slog": logBuf.String()}
	for k, o := range outs {
		if strings.Contains(o, "s3cr3t-value") || strings.Contains(o, "AKIAEXAMPLE") {
			t.Errorf("%s output holds a secret: %s", k, o)
		}
	}
	if !strings.Contains(string(j), `"credentials_set":true`) {
		t.Errorf("json lacks credentials_set: %s", j)
	}
	var back Integration
	if err := json.Unmarshal(j, &back); err != nil || !back.Destination.View().CredentialsSet || back.Destination.SecretKey != "" {
		t.Errorf("a decoded GET body must keep credentials_set: %v %+v", err, back.Destination)
	}
	var none Integration
	json.Unmarshal([]byte(`{"destination":{"endpoint":"h","credentials_set":false}}`), &none)
	if none.Destination.View().CredentialsSet || none.Destination.Endpoint != "h" {
		t.Errorf("credentials_set false: %+v", none.Destination)
	}
	if r := it.Redacted(); r.Destination.SecretKey != "" || r.Destination.AccessKey != "" || !r.Destination.View().CredentialsSet {
		t.Error("Redacted keeps secrets or loses credentials_set")
	}
}
