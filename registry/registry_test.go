package registry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

func sample(t *testing.T, name string) integrations.Integration {
	t.Helper()
	s := func(v string) *string { return &v }
	it, err := integrations.New(integrations.Patch{Name: s(name),
		Destination: &integrations.DestinationPatch{Endpoint: s("127.0.0.1:9000"), Bucket: s("acme"), AccessKey: s("AKIA-" + name), SecretKey: s("very-secret-" + name)},
		Filter:      &integrations.FilterPatch{Match: json.RawMessage(`{"application_id":[1,2],"domain":["a.example"]}`)},
	}, integrations.Defaults{Topic: "hits"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestRecordRoundTrip(t *testing.T) {
	kr, _ := NewKeyring(key(1))
	it := sample(t, "acme")
	it.SetEnabled(false, integrations.DisabledByAuto, "60% failed", time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC))
	b, err := EncodeRecord(it, kr)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("very-secret-acme")) || bytes.Contains(b, []byte("AKIA-acme")) {
		t.Fatalf("record holds a secret in clear text: %s", b)
	}
	var head map[string]any
	json.Unmarshal(b, &head)
	if head["v"] != float64(1) {
		t.Fatalf("record version: %v", head["v"])
	}
	got, err := DecodeRecord(b, kr)
	if err != nil {
		t.Fatal(err)
	}
	if got.Destination != it.Destination || got.Name != it.Name || got.DisabledBy != "auto" || got.DisabledReason != "60% failed" ||
		!got.DisabledAt.Equal(it.DisabledAt) || !got.CreatedAt.Equal(it.CreatedAt) || len(got.Filter.Match) != 2 || got.Filter.Topic != "hits" {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, it)
	}
	if !integrations.Equal(got.Filter.Match["application_id"][1], json.RawMessage("2")) {
		t.Fatal("match values changed")
	}
	// a newer version is refused with a clear error
	nb := bytes.Replace(b, []byte(`"v":1`), []byte(`"v":3`), 1)
	if _, err := DecodeRecord(nb, kr); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("version 3: %v", err)
	}
}

func TestSealRotation(t *testing.T) {
	old, _ := NewKeyring(key(1))
	it := sample(t, "acme")
	sealedOld, _ := EncodeRecord(it, old)

	// rotation: the new key first, the old one kept
	rotated, err := ParseKeyring([]byte("# current\n" + hex.EncodeToString(key(2)) + "\n\n" + hex.EncodeToString(key(1)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentKeyID() != KeyID(key(2)) || len(rotated.KeyIDs()) != 2 {
		t.Fatalf("keyring %v", rotated.KeyIDs())
	}
	got, err := DecodeRecord(sealedOld, rotated)
	if err != nil || got.Destination.SecretKey != "very-secret-acme" {
		t.Fatalf("an old ciphertext must open after a new key is added: %v", err)
	}
	sealedNew, _ := EncodeRecord(it, rotated)
	if !bytes.Contains(sealedNew, []byte(`"kid":"`+KeyID(key(2))+`"`)) {
		t.Fatalf("new writes must be sealed under the new key: %s", sealedNew)
	}
	// the old keyring cannot open the new value: the error names the key id, not the secret
	_, err = DecodeRecord(sealedNew, old)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), KeyID(key(2))) || strings.Contains(err.Error(), "very-secret") {
		t.Fatalf("unknown key: %v", err)
	}
	// a value moved to another integration does not open (AAD binds the id)
	var r map[string]any
	json.Unmarshal(sealedNew, &r)
	r["id"] = "itg-other00000"
	moved, _ := json.Marshal(r)
	if _, err := DecodeRecord(moved, rotated); err == nil {
		t.Fatal("a sealed secret moved to another id must not open")
	}
}

func TestParseKeyring(t *testing.T) {
	raw := key(7)
	raw[5] = '\n'
	if kr, err := ParseKeyring(raw); err != nil || kr.CurrentKeyID() != KeyID(raw) {
		t.Fatalf("32 raw bytes: %v", err)
	}
	if kr, err := ParseKeyring([]byte(strings.ToUpper(hex.EncodeToString(key(3))) + "\r\n")); err != nil || kr.CurrentKeyID() != KeyID(key(3)) {
		t.Fatalf("hex with CRLF: %v", err)
	}
	for _, bad := range []string{"", "abcd", strings.Repeat("zz", 32), hex.EncodeToString(key(1)) + "\n" + hex.EncodeToString(key(1))} {
		if _, err := ParseKeyring([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if len(GenerateKey()) != 64 {
		t.Error("GenerateKey")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	os.WriteFile(p, []byte(GenerateKey()+"\n"), 0o600)
	if _, err := LoadKeyring(p); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "HITEXPORT_SECRETS_KEY_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestMemoryRegistry(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	wctx, cancel := context.WithCancel(ctx)
	w := m.Watch(wctx)
	if first := <-w; len(first) != 0 {
		t.Fatalf("first snapshot %v", first)
	}
	a := sample(t, "a")
	if _, err := m.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if snap := <-w; len(snap) != 1 || snap[0].ID != a.ID {
		t.Fatalf("snapshot after create: %v", snap)
	}
	dup := sample(t, "a")
	var ce *ConflictError
	if _, err := m.Create(ctx, dup); !errors.As(err, &ce) || ce.Field != "name" || !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	b := sample(t, "b")
	m.Create(ctx, b)
	<-w
	if _, err := m.Update(ctx, b.ID, func(it integrations.Integration) (integrations.Integration, error) {
		it.Name = "a"
		return it, nil
	}); !errors.As(err, &ce) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	up, err := m.Update(ctx, b.ID, func(it integrations.Integration) (integrations.Integration, error) {
		it.Format, it.ID = "json", "hijack"
		return it, nil
	})
	if err != nil || up.ID != b.ID || up.Format != "json" {
		t.Fatalf("update: %v %+v", err, up)
	}
	if err := m.SetDisabled(ctx, a.ID, integrations.DisabledByAuto, "too many failures"); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Get(ctx, a.ID)
	if got.Enabled || got.DisabledBy != "auto" {
		t.Fatalf("SetDisabled: %+v", got)
	}
	m.Update(ctx, b.ID, func(it integrations.Integration) (integrations.Integration, error) {
		it.SetEnabled(false, integrations.DisabledByUser, "by me", time.Now())
		return it, nil
	})
	m.SetDisabled(ctx, b.ID, integrations.DisabledByAuto, "failing")
	if got, _ := m.Get(ctx, b.ID); got.DisabledBy != "user" || got.DisabledReason != "by me" {
		t.Fatalf("auto-disable must not take over a user's disable: %+v", got)
	}
	m.Update(ctx, b.ID, func(it integrations.Integration) (integrations.Integration, error) {
		it.SetEnabled(true, "", "", time.Now())
		return it, nil
	})
	if err := m.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := m.Delete(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	var last []integrations.Integration
	for len(w) > 0 {
		last = <-w
	}
	if len(last) != 1 || last[0].ID != b.ID {
		t.Fatalf("a slow watcher gets the latest set: %v", last)
	}
	cancel()
	deadline := time.After(2 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-w:
		case <-deadline:
			t.Fatal("watch channel not closed after its context ended")
		}
	}
	// snapshots are copies
	list, _ := m.List(ctx)
	list[0].Filter.Match["application_id"][0] = json.RawMessage("99")
	again, _ := m.Get(ctx, b.ID)
	if string(again.Filter.Match["application_id"][0]) == "99" {
		t.Fatal("List shares its maps with the registry")
	}
}

func TestEnvRegistry(t *testing.T) {
	ctx := context.Background()
	r, err := NewEnv(EnvConfig{Endpoint: "127.0.0.1:9000", Bucket: "hits", AccessKey: "minioadmin", SecretKey: "minioadmin",
		Format: "ndjson", Compression: "gzip", KeyPrefix: "a b/", Topic: "hits"})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := r.List(ctx)
	if len(list) != 1 || list[0].ID != "default" || list[0].Name != "default" || !list[0].Enabled || list[0].Destination.Region != "us-east-1" ||
		list[0].Compression != "gzip" || list[0].Filter.Topic != "hits" || list[0].Destination.SecretKey != "minioadmin" {
		t.Fatalf("env integration: %+v", list)
	}
	if !r.ReadOnly() {
		t.Fatal("env registry must be read-only")
	}
	if _, err := r.Create(ctx, sample(t, "x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("create: %v", err)
	}
	if err := r.Delete(ctx, "default"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("delete: %v", err)
	}
	if err := r.SetDisabled(ctx, "default", integrations.DisabledByAuto, "x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "default"); got.Enabled {
		t.Fatal("SetDisabled on the env registry")
	}
	if _, err := NewEnv(EnvConfig{Endpoint: "h", Bucket: "hits", AccessKey: "a", SecretKey: "s", Format: "xml", Topic: "hits"}); err == nil {
		t.Fatal("bad format accepted")
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestFileRegistry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sk"), []byte("file-secret\n"), 0o600)
	path := filepath.Join(dir, "integrations.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Rename(tmp, path)
	}
	write(`
- id: acme
  name: acme-prod
  destination: {endpoint: "127.0.0.1:9000", bucket: acme, access_key: AK, secret_key_file: sk}
  format: ocsf
  filter: {match: {application_id: [1, 2], domain: [a.example], remote_country: [null]}}
- name: beta
  enabled: false
  destination: {endpoint: "127.0.0.1:9000", bucket: beta, access_key: AK2, secret_key: SK2}
`)
	var logs logBuf
	f, err := NewFile(FileOptions{Path: path, Defaults: integrations.Defaults{Topic: "hits"}, Interval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list, _ := f.List(ctx)
	if len(list) != 2 {
		t.Fatalf("items: %+v", list)
	}
	acme, beta := list[0], list[1]
	if acme.ID != "acme" || acme.Destination.SecretKey != "file-secret" || acme.Format != "ocsf" || acme.Filter.Topic != "hits" || !acme.Enabled {
		t.Fatalf("acme: %+v", acme)
	}
	if !integrations.Equal(acme.Filter.Match["application_id"][1], json.RawMessage("2.0")) || string(acme.Filter.Match["remote_country"][0]) != "null" {
		t.Fatalf("match from YAML: %s", acme.Filter.Match)
	}
	if beta.ID != DerivedID("beta") || beta.Enabled || beta.DisabledBy != "user" {
		t.Fatalf("beta: %+v", beta)
	}
	if !f.ReadOnly() {
		t.Fatal("read-only")
	}
	if _, err := f.Create(ctx, sample(t, "x")); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	w := f.Watch(ctx)
	<-w

	// auto-disable survives reloads of an unchanged definition
	if err := f.SetDisabled(ctx, "acme", integrations.DisabledByAuto, "failing"); err != nil {
		t.Fatal(err)
	}
	<-w
	write(`
- id: acme
  name: acme-prod
  destination: {endpoint: "127.0.0.1:9000", bucket: acme, access_key: AK, secret_key_file: sk}
  format: ocsf
  filter: {match: {application_id: [1, 2], domain: [a.example], remote_country: [null]}}
- name: beta
  enabled: false
  destination: {endpoint: "127.0.0.1:9000", bucket: beta2, access_key: AK2, secret_key: SK2}
`)
	select {
	case snap := <-w:
		if len(snap) != 2 || snap[1].Destination.Bucket != "beta2" || snap[0].Enabled || snap[0].DisabledBy != "auto" {
			t.Fatalf("an unchanged item keeps its auto-disable across a reload: %+v", snap)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("change not seen")
	}

	// a bad reload keeps the last good set and logs one error naming the field
	write(`
- id: acme
  name: acme-prod
  destination: {endpoint: "127.0.0.1:9000", bucket: Bad_Bucket, access_key: AK, secret_key_file: sk}
`)
	time.Sleep(400 * time.Millisecond)
	if got := strings.Count(logs.String(), "not reloaded"); got != 1 {
		t.Fatalf("want one error line, got %d: %s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "destination.bucket") || !strings.Contains(logs.String(), "acme-prod") {
		t.Fatalf("the error must name the item and field: %s", logs.String())
	}
	if l, _ := f.List(ctx); len(l) != 2 {
		t.Fatal("the last good set must stay")
	}
	if strings.Contains(logs.String(), "file-secret") {
		t.Fatal("a secret in the log")
	}

	// a good change applies within seconds; a changed definition clears the auto-disable
	write(`
- id: acme
  name: acme-prod
  destination: {endpoint: "127.0.0.1:9000", bucket: acme2, access_key: AK, secret_key_file: sk}
`)
	select {
	case snap := <-w:
		if len(snap) != 1 || snap[0].Destination.Bucket != "acme2" || !snap[0].Enabled {
			t.Fatalf("after reload: %+v", snap)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("change not seen")
	}
	// a changed secret file is a change too
	os.WriteFile(filepath.Join(dir, "sk"), []byte("rotated\n"), 0o600)
	select {
	case snap := <-w:
		if snap[0].Destination.SecretKey != "rotated" {
			t.Fatal("secret file change not applied")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("secret file change not seen")
	}

	// the initial load fails with the field named
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("- name: x\n  destination: {endpoint: h, bucket: acme, access_key: a, secret_key: s}\n  format: xml\n"), 0o600)
	if _, err := NewFile(FileOptions{Path: bad, Defaults: integrations.Defaults{Topic: "hits"}}); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("bad file: %v", err)
	}
	os.WriteFile(bad, []byte("- name: x\n  colour: red\n"), 0o600)
	if _, err := NewFile(FileOptions{Path: bad, Defaults: integrations.Defaults{Topic: "hits"}}); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown field: %v", err)
	}
}
