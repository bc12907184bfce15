package registry

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestKafkaApply: how a replica applies records — puts, tombstones, and
// records it cannot read (unknown key, newer version, key/id mismatch),
// which keep the previous value of their key.
func TestKafkaApply(t *testing.T) {
	var logs bytes.Buffer
	mine, _ := NewKeyring(key(1))
	other, _ := NewKeyring(key(9))
	k := &Kafka{o: KafkaOptions{Keys: mine}, log: slog.New(slog.NewTextHandler(&logs, nil)), set: newSet(), advance: make(chan struct{})}
	it := sample(t, "acme")
	v1, _ := EncodeRecord(it, mine)
	k.apply(kafka.Message{Offset: 0, Key: []byte(it.ID), Value: v1})
	if got, ok := k.set.get(it.ID); !ok || got.Destination.SecretKey != it.Destination.SecretKey {
		t.Fatal("put not applied")
	}
	changed := it
	changed.Format = "json"
	foreign, _ := EncodeRecord(changed, other)
	k.apply(kafka.Message{Offset: 1, Key: []byte(it.ID), Value: foreign})
	if got, _ := k.set.get(it.ID); got.Format != "ndjson" {
		t.Fatal("a record sealed under an unknown key must keep the previous value")
	}
	if !strings.Contains(logs.String(), KeyID(key(9))) || strings.Contains(logs.String(), it.Destination.SecretKey) {
		t.Fatalf("the log must name the unknown key id and no secret: %s", logs.String())
	}
	newer := bytes.Replace(v1, []byte(`"v":1`), []byte(`"v":3`), 1)
	k.apply(kafka.Message{Offset: 2, Key: []byte(it.ID), Value: newer})
	k.apply(kafka.Message{Offset: 3, Key: []byte("itg-wrong"), Value: v1})
	if _, ok := k.set.get("itg-wrong"); ok {
		t.Fatal("a record whose key and id differ must not be applied")
	}
	if k.applied != 4 {
		t.Fatalf("applied %d, want 4", k.applied)
	}
	k.apply(kafka.Message{Offset: 4, Key: []byte(it.ID), Value: nil})
	if _, ok := k.set.get(it.ID); ok {
		t.Fatal("tombstone not applied")
	}
}
