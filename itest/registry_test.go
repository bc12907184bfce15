//go:build integration

package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/adminapi"
	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/registry"
)

// TestExportRegistryKafka runs the Kafka registry against the real broker:
// create on one instance, seen by a second ("a replica") within seconds,
// update, delete (tombstone), a restart reads the same set, and no secret in
// clear text in the topic.
func TestExportRegistryKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("itest.registry.%d", time.Now().UnixNano())
	kr, err := registry.NewKeyring(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	open := func() *registry.Kafka {
		r, err := registry.NewKafka(ctx, registry.KafkaOptions{Brokers: []string{brokers}, Topic: topic, Keys: kr})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := open()
	defer a.Close()
	b := open()
	defer b.Close()
	watch := b.Watch(ctx)
	if first := <-watch; len(first) != 0 {
		t.Fatalf("new topic: %v", first)
	}

	s := func(v string) *string { return &v }
	mk := func(name, secret string) integrations.Integration {
		it, err := integrations.New(integrations.Patch{Name: s(name), Destination: &integrations.DestinationPatch{
			Endpoint: s("127.0.0.1:9000"), Bucket: s("acme"), AccessKey: s("AKIA" + name), SecretKey: s(secret)}},
			integrations.Defaults{Topic: "hits"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	const secret = "Sup3r-Secret-Value-0123456789"
	it := mk("acme-prod", secret)
	start := time.Now()
	if _, err := a.Create(ctx, it); err != nil {
		t.Fatal(err)
	}
	// read-your-write on the writer
	if got, err := a.Get(ctx, it.ID); err != nil || got.Destination.SecretKey != secret {
		t.Fatalf("get after create on the writer: %v", err)
	}
	waitFor := func(what string, ok func([]integrations.Integration) bool) {
		t.Helper()
		for {
			select {
			case snap := <-watch:
				if ok(snap) {
					t.Logf("%s seen by the replica after %v", what, time.Since(start).Round(time.Millisecond))
					if time.Since(start) > 5*time.Second {
						t.Fatalf("%s took %v to reach the replica", what, time.Since(start))
					}
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s not seen by the replica", what)
			}
		}
	}
	waitFor("create", func(s []integrations.Integration) bool {
		return len(s) == 1 && s[0].ID == it.ID && s[0].Destination.SecretKey == secret
	})
	// duplicate name
	var ce *registry.ConflictError
	if _, err := a.Create(ctx, mk("acme-prod", "x")); !errors.As(err, &ce) || ce.Field != "name" {
		t.Fatalf("duplicate name: %v", err)
	}
	other := mk("other", "another-secret-value")
	if _, err := b.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	if _, err := a.Update(ctx, it.ID, func(cur integrations.Integration) (integrations.Integration, error) {
		cur.Format, cur.Destination.Bucket = "json", "acme2"
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor("update", func(s []integrations.Integration) bool {
		for _, x := range s {
			if x.ID == it.ID {
				return x.Format == "json" && x.Destination.Bucket == "acme2" && x.Destination.SecretKey == secret
			}
		}
		return false
	})
	start = time.Now()
	if err := a.SetDisabled(ctx, it.ID, integrations.DisabledByAuto, "60% of uploads failed"); err != nil {
		t.Fatal(err)
	}
	waitFor("auto-disable", func(s []integrations.Integration) bool {
		for _, x := range s {
			if x.ID == it.ID {
				return !x.Enabled && x.DisabledBy == "auto" && x.DisabledReason == "60% of uploads failed"
			}
		}
		return false
	})

	start = time.Now()
	if err := a.Delete(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	waitFor("delete", func(s []integrations.Integration) bool { return len(s) == 1 && s[0].ID == it.ID })
	if _, err := b.Get(ctx, other.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}

	// restart: a new instance reads the same set
	c := open()
	defer c.Close()
	list, _ := c.List(ctx)
	if len(list) != 1 || list[0].ID != it.ID || list[0].Enabled || list[0].Format != "json" || list[0].Destination.SecretKey != secret {
		t.Fatalf("after restart: %+v", list)
	}

	// the raw topic: versioned values, a tombstone for the delete, no secret in clear text
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokers}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	var raw bytes.Buffer
	tombstones := 0
	for n := 0; n < 5; n++ {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := r.ReadMessage(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		raw.Write(m.Key)
		raw.Write(m.Value)
		if m.Value == nil {
			tombstones++
			if string(m.Key) != other.ID {
				t.Fatalf("tombstone for %s", m.Key)
			}
			continue
		}
		var v struct {
			V int `json:"v"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || v.V != 1 {
			t.Fatalf("value %s: %v", m.Value, err)
		}
	}
	if tombstones != 1 {
		t.Fatalf("want 1 tombstone, got %d", tombstones)
	}
	for _, sec := range []string{secret, "another-secret-value", "AKIAacme-prod"} {
		if strings.Contains(raw.String(), sec) {
			t.Fatalf("a secret in clear text in the topic")
		}
	}

	// the topic was created compacted with one partition
	cl := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 10 * time.Second}
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resources) != 1 || len(res.Resources[0].ConfigEntries) != 1 || res.Resources[0].ConfigEntries[0].ConfigValue != "compact" {
		t.Fatalf("cleanup.policy: %+v", res.Resources)
	}
	cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}

// TestExportRegistryKafkaNeedsKey: without a secrets key the Kafka registry
// refuses to start, naming the setting.
func TestExportRegistryKafkaNeedsKey(t *testing.T) {
	_, err := registry.NewKafka(context.Background(), registry.KafkaOptions{Brokers: []string{brokers}, Topic: "unused"})
	if err == nil || !strings.Contains(err.Error(), "HITEXPORT_SECRETS_KEY_FILE") {
		t.Fatalf("got %v", err)
	}
}

// TestExportRegistryAdminAPI: the admin API on two replicas sharing the
// Kafka registry: a GET right after a POST on the same replica sees it, the
// other replica within seconds; the CLI deletes through the other replica.
func TestExportRegistryAdminAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("itest.registry.api.%d", time.Now().UnixNano())
	kr, _ := registry.NewKeyring(bytes.Repeat([]byte{7}, 32))
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("itest-admin-token-0123456789"), 0o600)
	tester := func(ctx context.Context, it integrations.Integration) adminapi.TestResult {
		return adminapi.TestResult{OK: true, Steps: []adminapi.TestStep{{Step: "config", OK: true, Message: "ok"}}}
	}
	replica := func() (*registry.Kafka, *httptest.Server) {
		r, err := registry.NewKafka(ctx, registry.KafkaOptions{Brokers: []string{brokers}, Topic: topic, Keys: kr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		h, err := adminapi.NewHandler(adminapi.Options{Registry: r, Token: "itest-admin-token-0123456789", Defaults: integrations.Defaults{Topic: "hits"}, Tester: tester})
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return r, s
	}
	_, a := replica()
	_, b := replica()
	cli := func(addr string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := adminapi.RunCLI(append([]string{"--addr", addr, "--token-file", tokenFile}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	ak, sk := filepath.Join(dir, "ak"), filepath.Join(dir, "sk")
	os.WriteFile(ak, []byte("AKIAITEST"), 0o600)
	os.WriteFile(sk, []byte("itest-secret-value-42"), 0o600)
	code, out := cli(a.URL, "add", "--name", "acme", "--endpoint", s3Addr, "--bucket", "acme", "--access-key-file", ak, "--secret-key-file", sk, "-o", "json")
	if code != 0 {
		t.Fatalf("add: %s", out)
	}
	var it integrations.Integration
	json.Unmarshal([]byte(out), &it)
	// read-your-write on replica a, immediately
	if code, out = cli(a.URL, "get", it.ID); code != 0 {
		t.Fatalf("get on the writer right after add: %s", out)
	}
	start := time.Now()
	for {
		if code, out = cli(b.URL, "get", "acme"); code == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("replica b does not see the integration after 5s: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("replica b saw the new integration after %v", time.Since(start).Round(time.Millisecond))
	if strings.Contains(out, "itest-secret-value-42") {
		t.Fatal("secret printed")
	}
	if code, out = cli(b.URL, "delete", "acme"); code != 0 {
		t.Fatalf("delete on b: %s", out)
	}
	start = time.Now()
	for {
		if code, _ = cli(a.URL, "get", it.ID); code == 1 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("replica a still has the deleted integration after 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 10 * time.Second}
	cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}
